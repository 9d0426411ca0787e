import { join } from "node:path";
import type { AnyAggregate, PersonalDataSpec } from "../aggregate.ts";
import type { Config } from "../config.ts";
import { StartupError } from "../lib/errors.ts";
import type { LegacyPersonalData } from "../store/sqlite/migrate.ts";
import { loadMasterKey } from "./master-key.ts";
import { PersonalData } from "./personal-data.ts";
import type { SubjectKeyStore } from "./subject-keys.ts";

/**
 * The subjects' keys where the events are: a collection of the same MongoDB database, or a SQLite file
 * of their own beside the events' file. With the master key from the configuration, or the one kept in
 * the data directory.
 */
export const openPersonalData = async (
  config: Pick<
    Config,
    | "mongoUrl"
    | "dataDir"
    | "masterKey"
    | "mongoWriteTimeoutMs"
    | "mongoServerSelectionMs"
    | "personalDataPlain"
  >,
  aggregates: readonly Pick<AnyAggregate, "type" | "personalData">[],
  onUnreadable?: (subjectId: string, field: string, why: string) => void,
): Promise<
  { personalData: PersonalData; keys: SubjectKeyStore; legacy?: LegacyPersonalData } | undefined
> => {
  if (!aggregates.some((a) => a.personalData)) return undefined;
  // With MongoDB, several processes share the subjects' keys: each making a master key of its own
  // would wrap keys the others cannot open.
  if (config.mongoUrl && !config.masterKey)
    throw new StartupError(
      "EVENTFOLD_MASTER_KEY must be set with MONGO_URL: every process of the deployment needs the same master key (npm run eventfold -- ledger keygen makes one)",
    );
  const master = loadMasterKey(config.masterKey, join(config.dataDir, "master-key"));
  let keys: SubjectKeyStore;
  let legacy: LegacyPersonalData | undefined;
  if (config.mongoUrl) {
    const { MongoClient } = await import("mongodb");
    const { MongoSubjectKeys } = await import("../store/mongo/subject-keys.ts");
    const { databaseOf } = await import("../store/mongo/mongo-store.ts");
    const client = new MongoClient(config.mongoUrl, {
      retryWrites: true,
      serverSelectionTimeoutMS: config.mongoServerSelectionMs,
    });
    await client.connect();
    const mongoKeys = new MongoSubjectKeys(client.db(databaseOf(config.mongoUrl)), {
      writeTimeoutMs: config.mongoWriteTimeoutMs,
      owner: client,
    });
    await mongoKeys.ensureIndexes();
    keys = mongoKeys;
  } else {
    const { SqliteSubjectKeys } = await import("../store/sqlite/subject-keys.ts");
    const keysPath = join(config.dataDir, "subject-keys.sqlite");
    keys = new SqliteSubjectKeys(keysPath);
    const specs: Record<string, PersonalDataSpec> = {};
    for (const a of aggregates) if (a.personalData) specs[a.type] = a.personalData;
    if (!config.personalDataPlain) legacy = { specs, keysPath, masterKey: master };
  }
  const personalData = new PersonalData(keys, master, aggregates, {
    plain: config.personalDataPlain,
    ...(onUnreadable ? { onUnreadable } : {}),
  });
  return { personalData, keys, ...(legacy ? { legacy } : {}) };
};
