import { join } from "node:path";
import type { Config } from "../config.ts";
import type { BatcherOptions } from "../lib/batcher.ts";
import { SqliteStore } from "./sqlite/sqlite-store.ts";
import type { Store } from "./store.ts";

/** MongoDB when `MONGO_URL` is set, else the embedded SQLite file under the data directory. */
export const openEventStore = async (
  config: Pick<Config, "mongoUrl" | "dataDir">,
  batching: Partial<Omit<BatcherOptions, "weigh">> = {},
  onWritable?: (cause: string | undefined) => void,
): Promise<Store> => {
  if (config.mongoUrl) {
    const { MongoStore } = await import("./mongo/mongo-store.ts");
    return MongoStore.connect({ url: config.mongoUrl, ...batching });
  }
  return new SqliteStore({ path: join(config.dataDir, "events.sqlite"), ...batching, onWritable });
};
