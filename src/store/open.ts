import { join } from "node:path";
import type { Config } from "../config.ts";
import type { StageObserver } from "../observability/stages.ts";
import { type LegacyPersonalData, type MigrationProgress, migrateOffThread } from "./sqlite/migrate.ts";
import { SqliteStore } from "./sqlite/sqlite-store.ts";
import { neverFlushHeads } from "./sqlite/writer.ts";
import type { Store } from "./store.ts";

export interface StoreHooks {
  /** Each durable round trip's size, for metrics (and to wake the relay). */
  readonly onBatch?: (size: number) => void;
  /** A cause when writes start failing for a reason that outlasts a retry; undefined when they work again. */
  readonly onWritable?: (cause: string | undefined) => void;
  /** Where each write's time goes, stage by stage. */
  readonly onStage?: StageObserver;
  /** How far the migration of a file of an earlier format is, when one is opened. */
  readonly onMigration?: MigrationProgress;
  /** Seals the personal data of a SQLite file written before it was sealed, as it is migrated. */
  readonly legacyPersonalData?: LegacyPersonalData;
  /**
   * A second connection in a process whose first one appends (the read side's thread): with SQLite it
   * neither checkpoints the WAL nor writes the stream heads, which the first does.
   */
  readonly secondary?: boolean;
}

type StoreSettings = Pick<
  Config,
  | "mongoUrl"
  | "dataDir"
  | "storeBatch"
  | "storeMaxPending"
  | "sqliteCheckpointMs"
  | "mongoHoleGraceMs"
  | "mongoWriteTimeoutMs"
  | "mongoServerSelectionMs"
  | "mongoDeadlineMs"
  | "ledgerOff"
>;

/** MongoDB when `MONGO_URL` is set, else the embedded SQLite file under the data directory. */
export const openStore = async (config: StoreSettings, hooks: StoreHooks = {}): Promise<Store> => {
  const batching = {
    maxBatch: config.storeBatch,
    maxPending: config.storeMaxPending,
    onBatch: hooks.onBatch,
    onStage: hooks.onStage,
  };
  if (config.mongoUrl) {
    const { MongoStore } = await import("./mongo/mongo-store.ts");
    return MongoStore.connect({
      url: config.mongoUrl,
      holeGraceMs: config.mongoHoleGraceMs,
      writeTimeoutMs: config.mongoWriteTimeoutMs,
      serverSelectionTimeoutMs: config.mongoServerSelectionMs,
      deadlineMs: config.mongoDeadlineMs,
      onWritable: hooks.onWritable,
      ...batching,
    });
  }
  const path = join(config.dataDir, "events.sqlite");
  // A file of an earlier format is rewritten before the store opens it, off the event loop.
  await migrateOffThread(path, hooks.onMigration, hooks.legacyPersonalData);
  return new SqliteStore({
    path,
    checkpointEveryMs: hooks.secondary ? 0 : config.sqliteCheckpointMs,
    ledger: !config.ledgerOff,
    ...(hooks.secondary ? { headsFlush: neverFlushHeads } : {}),
    onWritable: hooks.onWritable,
    ...batching,
  });
};
