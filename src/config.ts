import { join } from "node:path";

export type Role = "reader" | "writer" | "admin";

export interface ApiKey {
  readonly name: string;
  readonly role: Role;
  readonly token: string;
}

export interface Config {
  readonly port: number;
  readonly dataDir: string;
  readonly mongoUrl?: string;
  readonly amqpUrl?: string;
  readonly clickhouseUrl?: string;
  readonly redisUrl?: string;
  /** Undefined: auth is off. */
  readonly apiKeys?: readonly ApiKey[];
  readonly logLevel: string;
  readonly maxActors: number;
  readonly actorIdleMs: number;
  readonly mailboxCapacity: number;
  readonly snapshotEvery: number;
  readonly maxBodyBytes: number;
  /** Queues per projection (parallelism); events of one aggregate always share one. */
  readonly shards: number;
  readonly projectionBatchSize: number;
  readonly projectionBatchMs: number;
  /**
   * Analytics inserts start at least this far apart (sooner at 4 000 rows waiting). Each insert is a
   * data part to write and merge; ClickHouse asks for about one insert a second.
   */
  readonly analyticsInsertIntervalMs: number;
  /**
   * A relay round that was not full is followed by at least this pause, so that trickling events go in
   * fewer, larger rounds. RabbitMQ's cost is per message (route, quorum log, deliver, ack), whatever it
   * holds, so with RabbitMQ rounds go 50 ms apart; the in-process broker costs little per round: 10 ms.
   */
  readonly relayIntervalMs: number;
  /** Tries per event before it is dead-lettered, and the first backoff (doubling up to 10 s). */
  readonly retryAttempts: number;
  readonly retryBaseMs: number;
  readonly redisPrefix: string;
  /** Prefix of every RabbitMQ exchange and queue name, so several deployments can share a broker. */
  readonly amqpNamespace: string;
  readonly clickhouseDatabase: string;
  /** chDB's data directory (one per process). */
  readonly chdbPath: string;
}

const roles: readonly Role[] = ["reader", "writer", "admin"];

/** `name:role:token` triples separated by commas; a malformed entry stops the start-up. */
export const parseApiKeys = (raw: string): ApiKey[] =>
  raw
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const [name, role, ...rest] = entry.split(":");
      const token = rest.join(":");
      if (!name || !token || !roles.includes(role as Role)) {
        throw new Error(`EVENTFOLD_API_KEYS: expected name:role:token with role reader|writer|admin`);
      }
      return { name, role: role as Role, token };
    });

const int = (value: string | undefined, fallback: number, name: string): number => {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${value}`);
  return n;
};

const optional = (value: string | undefined): string | undefined => (value ? value : undefined);

export const loadConfig = (env: Record<string, string | undefined> = process.env): Config => {
  const dataDir = env.EVENTFOLD_DATA_DIR || join(process.cwd(), "data");
  const amqpUrl = optional(env.AMQP_URL);
  return {
    port: int(env.PORT, 3000, "PORT"),
    dataDir,
    mongoUrl: optional(env.MONGO_URL),
    amqpUrl,
    clickhouseUrl: optional(env.CLICKHOUSE_URL),
    redisUrl: optional(env.REDIS_URL),
    apiKeys: env.EVENTFOLD_API_KEYS ? parseApiKeys(env.EVENTFOLD_API_KEYS) : undefined,
    logLevel: env.LOG_LEVEL || "info",
    maxActors: int(env.EVENTFOLD_MAX_ACTORS, 50_000, "EVENTFOLD_MAX_ACTORS"),
    actorIdleMs: int(env.EVENTFOLD_ACTOR_IDLE_MS, 120_000, "EVENTFOLD_ACTOR_IDLE_MS"),
    mailboxCapacity: int(env.EVENTFOLD_MAILBOX_CAPACITY, 1024, "EVENTFOLD_MAILBOX_CAPACITY"),
    snapshotEvery: int(env.EVENTFOLD_SNAPSHOT_EVERY, 100, "EVENTFOLD_SNAPSHOT_EVERY"),
    maxBodyBytes: 64 * 1024,
    shards: Math.max(1, int(env.EVENTFOLD_SHARDS, 4, "EVENTFOLD_SHARDS")),
    projectionBatchSize: Math.max(1, int(env.EVENTFOLD_PROJECTION_BATCH, 2000, "EVENTFOLD_PROJECTION_BATCH")),
    projectionBatchMs: int(env.EVENTFOLD_PROJECTION_BATCH_MS, 25, "EVENTFOLD_PROJECTION_BATCH_MS"),
    analyticsInsertIntervalMs: int(
      env.EVENTFOLD_ANALYTICS_INSERT_INTERVAL_MS,
      1000,
      "EVENTFOLD_ANALYTICS_INSERT_INTERVAL_MS",
    ),
    relayIntervalMs: int(env.EVENTFOLD_RELAY_INTERVAL_MS, amqpUrl ? 50 : 10, "EVENTFOLD_RELAY_INTERVAL_MS"),
    retryAttempts: Math.max(1, int(env.EVENTFOLD_RETRY_ATTEMPTS, 5, "EVENTFOLD_RETRY_ATTEMPTS")),
    retryBaseMs: int(env.EVENTFOLD_RETRY_BASE_MS, 200, "EVENTFOLD_RETRY_BASE_MS"),
    redisPrefix: env.EVENTFOLD_REDIS_PREFIX || "eventfold:",
    amqpNamespace: env.EVENTFOLD_AMQP_NAMESPACE || "eventfold",
    clickhouseDatabase: env.EVENTFOLD_CLICKHOUSE_DATABASE || "eventfold",
    chdbPath: env.EVENTFOLD_CHDB_PATH || join(dataDir, "chdb"),
  };
};
