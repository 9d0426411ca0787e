import { join } from "node:path";
import type { Config } from "../config.ts";
import type { BatcherOptions } from "../lib/batcher.ts";
import type { EventStore } from "./event-store.ts";
import { SqliteEventStore } from "./sqlite/sqlite-event-store.ts";

/** MongoDB when `MONGO_URL` is set, else the embedded SQLite file under the data directory. */
export const openEventStore = async (
  config: Pick<Config, "mongoUrl" | "dataDir">,
  batching: Partial<Omit<BatcherOptions, "weigh">> = {},
  onWritable?: (cause: string | undefined) => void,
): Promise<EventStore> => {
  if (config.mongoUrl) {
    const { MongoEventStore } = await import("./mongo/mongo-event-store.ts");
    return MongoEventStore.connect({ url: config.mongoUrl, ...batching });
  }
  return new SqliteEventStore({ path: join(config.dataDir, "events.sqlite"), ...batching, onWritable });
};
