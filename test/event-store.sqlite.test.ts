import { afterAll } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { SqliteEventStore } from "../src/store/sqlite/sqlite-event-store.ts";
import { describeEventStoreConformance } from "./support/event-store-conformance.ts";
import { tempDir } from "./support/service.ts";

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeEventStoreConformance(
  "SQLite (embedded)",
  async (onBatch) => new SqliteEventStore({ path: join(dir, "events.sqlite"), onBatch }),
);
