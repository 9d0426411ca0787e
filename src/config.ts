import { join } from "node:path";
import { z } from "zod";
import { StartupError } from "./lib/errors.ts";

export type Role = "reader" | "writer" | "admin";

export interface ApiKey {
  readonly name: string;
  readonly role: Role;
  readonly token: string;
}

const roles: readonly Role[] = ["reader", "writer", "admin"];

/** A whole number from the environment, in a range; the message says what is allowed. */
const whole = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, `a whole number from ${min} to ${max}`)
        .max(max, `a whole number from ${min} to ${max}`),
    );

const text = z.string().min(1, "a non-empty value");
const url = z.string().regex(/^[a-z][a-z0-9+.-]*:\/\/\S+$/i, "a URL, e.g. scheme://host:port");
const prefix = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "1-64 characters of A-Z, a-z, 0-9, _ . : -");

/** `name:role:token,…`: every entry is checked, and a bad one named (without its token). */
const apiKeys = z.string().transform((raw, ctx): ApiKey[] => {
  const keys: ApiKey[] = [];
  for (const [i, entry] of raw
    .split(",")
    .map((e) => e.trim())
    .entries()) {
    if (!entry) continue;
    const [name, role, ...rest] = entry.split(":");
    const token = rest.join(":");
    if (!name || !token || !roles.includes(role as Role)) {
      ctx.addIssue({
        code: "custom",
        message: `entry ${i + 1} is not name:role:token with role reader, writer or admin`,
      });
      return z.NEVER;
    }
    keys.push({ name, role: role as Role, token });
  }
  return keys;
});

const flag = z
  .string()
  .trim()
  .regex(/^(0|1|true|false)$/, "1 or true, 0 or false")
  .transform((v) => v === "1" || v === "true");

/** The samplers of the OpenTelemetry specification's `OTEL_TRACES_SAMPLER`. */
export const traceSamplers = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;

const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/**
 * Every setting of eventfold, with its variable, its default and what it means: the one place they
 * are defined. The README's table is generated from this (`npm run config:docs`), and CI fails when the
 * two differ. A default of `undefined` means unset; a function computes it from the other settings.
 */
export const settings = {
  port: { env: "PORT", schema: whole(0, 65_535), default: "3000", doc: "HTTP port (0: any free one)" },
  httpIdleTimeoutS: {
    env: "EVENTFOLD_HTTP_IDLE_TIMEOUT_S",
    schema: whole(1, 255),
    default: "40",
    doc: "seconds a connection may stay silent, a request waiting for its answer included, before the server closes it (Bun's own default, 10 s, is less than a store's deadline); with MongoDB more than twice `EVENTFOLD_MONGO_DEADLINE_MS`, so that a command whose last store operation stalls after slow earlier ones is still answered",
  },
  host: { env: "HOST", schema: text, default: "0.0.0.0", doc: "address the HTTP server binds" },
  dataDir: {
    env: "EVENTFOLD_DATA_DIR",
    schema: text,
    default: () => join(process.cwd(), "data"),
    docDefault: "`./data`",
    doc: "files of the embedded stores",
  },
  mongoUrl: {
    env: "MONGO_URL",
    secret: true,
    schema: url.optional(),
    doc: "event store; unset: SQLite in the data directory",
  },
  amqpUrl: {
    env: "AMQP_URL",
    secret: true,
    schema: url.optional(),
    doc: "broker (RabbitMQ); unset: in-process",
  },
  clickhouseUrl: {
    env: "CLICKHOUSE_URL",
    secret: true,
    schema: url.optional(),
    doc: "analytics (ClickHouse); unset: chDB",
  },
  clickhouseAnalystUrl: {
    env: "CLICKHOUSE_ANALYST_URL",
    secret: true,
    schema: url.optional(),
    doc: "the ClickHouse user that analysts' SQL (`POST /v1/analytics/sql`) runs as, whose grants are `SELECT` on the analytics views only (the compose file's `analyst`); unset: `CLICKHOUSE_URL`'s user, or chDB",
  },
  redisUrl: {
    env: "REDIS_URL",
    secret: true,
    schema: url.optional(),
    doc: "hot lookups (Redis); unset: in-process",
  },
  apiKeys: {
    env: "EVENTFOLD_API_KEYS",
    secret: true,
    schema: apiKeys.optional(),
    doc: "`name:role:token,…`, roles `reader` < `writer` < `admin`; unset: auth off (a warning at start)",
  },
  logLevel: {
    env: "LOG_LEVEL",
    schema: z.enum(logLevels, `one of ${logLevels.join(", ")}`),
    default: "info",
    doc: "log level (pino)",
  },
  accessLog: {
    env: "EVENTFOLD_ACCESS_LOG",
    schema: flag,
    default: "1",
    doc: "one `info` line per request once answered: method, route, status, `durationMs`, `correlationId` (`0`: none)",
  },
  otlpEndpoint: {
    env: "OTEL_EXPORTER_OTLP_ENDPOINT",
    secret: true,
    schema: url.optional(),
    doc: "tracing: spans are exported over OTLP/HTTP (JSON) to `<url>/v1/traces`, service name `eventfold` unless `OTEL_SERVICE_NAME` says otherwise, with the exporter's other `OTEL_EXPORTER_OTLP_*` settings (headers); unset: no tracing, and the OpenTelemetry SDK is not loaded",
  },
  tracesSampler: {
    env: "OTEL_TRACES_SAMPLER",
    schema: z.enum(traceSamplers, `one of ${traceSamplers.join(", ")}`),
    default: "parentbased_always_on",
    doc: "which traces are kept: `parentbased_*` follow the caller's `traceparent` where it sends one; `traceidratio` keeps the share `OTEL_TRACES_SAMPLER_ARG` says",
  },
  tracesSamplerArg: {
    env: "OTEL_TRACES_SAMPLER_ARG",
    schema: z
      .string()
      .trim()
      .regex(/^(0(\.\d+)?|1(\.0+)?)$/, "a share from 0 to 1, e.g. 0.01")
      .transform(Number),
    default: "1",
    doc: "the share of traces `traceidratio` and `parentbased_traceidratio` keep",
  },
  maxActors: {
    env: "EVENTFOLD_MAX_ACTORS",
    schema: whole(1),
    default: "50000",
    doc: "live actors; idle ones used least recently are passivated beyond it",
  },
  actorIdleMs: {
    env: "EVENTFOLD_ACTOR_IDLE_MS",
    schema: whole(1),
    default: "120000",
    doc: "an actor unused this long is passivated",
  },
  mailboxCapacity: {
    env: "EVENTFOLD_MAILBOX_CAPACITY",
    schema: whole(1),
    default: "1024",
    doc: "commands waiting per actor; beyond it `429 overloaded` with `Retry-After`",
  },
  actorBatch: {
    env: "EVENTFOLD_ACTOR_BATCH",
    schema: whole(1),
    default: "256",
    doc: "most commands an actor decides together and appends as one write",
  },
  actorMaxAttempts: {
    env: "EVENTFOLD_ACTOR_MAX_ATTEMPTS",
    schema: whole(1),
    default: "20",
    doc: "reload-and-decide rounds after version clashes before a command is answered `503 overloaded`",
  },
  snapshotEvery: {
    env: "EVENTFOLD_SNAPSHOT_EVERY",
    schema: whole(0),
    default: "100",
    doc: "a snapshot each time a stream's version crosses a multiple of this (0: none)",
  },
  maxBodyBytes: {
    env: "EVENTFOLD_MAX_BODY_BYTES",
    schema: whole(1, 16 * 1024 * 1024),
    default: "65536",
    doc: "largest request body; beyond it `413 payload_too_large`",
  },
  checkResponses: {
    env: "EVENTFOLD_CHECK_RESPONSES",
    schema: flag,
    default: "0",
    doc: "check every answer against the OpenAPI document before it leaves; a mismatch is a 500 `contract_violation` (tests, staging)",
  },
  storeBatch: {
    env: "EVENTFOLD_STORE_BATCH",
    schema: whole(1),
    default: "512",
    doc: "most appends written in one durable round trip",
  },
  storeMaxPending: {
    env: "EVENTFOLD_STORE_MAX_PENDING",
    schema: whole(1),
    default: "20000",
    doc: "appends waiting for a round trip; beyond it `503 overloaded`",
  },
  sqliteCheckpointMs: {
    env: "EVENTFOLD_SQLITE_CHECKPOINT_MS",
    schema: whole(1),
    default: "20",
    doc: "how often SQLite's WAL is copied into the database file (small and often keeps commits short)",
  },
  mongoHoleGraceMs: {
    env: "EVENTFOLD_MONGO_HOLE_GRACE_MS",
    schema: whole(0),
    default: "5000",
    doc: "how long the relay's reader waits, by its own clock, for a hole in MongoDB's positions to fill before it tombstones it (a writer landing later writes again at new positions)",
  },
  mongoWriteTimeoutMs: {
    env: "EVENTFOLD_MONGO_WRITE_TIMEOUT_MS",
    schema: whole(1),
    default: "5000",
    doc: "how long a MongoDB write waits for a majority (`wtimeoutMS`); past it the write is read back before it is answered",
  },
  mongoServerSelectionMs: {
    env: "EVENTFOLD_MONGO_SERVER_SELECTION_MS",
    schema: whole(1),
    default: "10000",
    doc: "how long a MongoDB operation waits for a server to take it (a primary during an election); past it `503 unavailable`",
  },
  mongoDeadlineMs: {
    env: "EVENTFOLD_MONGO_DEADLINE_MS",
    schema: whole(1),
    default: "15000",
    doc: "the longest a MongoDB operation takes to answer: an append is written, refused or failed within it (`503 unavailable`, `written` saying `no` or `unknown`); also the driver's socket time-out. More than `EVENTFOLD_MONGO_WRITE_TIMEOUT_MS`",
  },
  shards: {
    env: "EVENTFOLD_SHARDS",
    schema: whole(1, 1024),
    default: "4",
    doc: "queues per projection; one aggregate's events always share one",
  },
  projectionBatchSize: {
    env: "EVENTFOLD_PROJECTION_BATCH",
    schema: whole(1),
    default: "2000",
    doc: "events a projection applies in one go (one Redis round trip)",
  },
  projectionBatchMs: {
    env: "EVENTFOLD_PROJECTION_BATCH_MS",
    schema: whole(0),
    default: "25",
    doc: "how long a partial batch of a projection waits for more",
  },
  analyticsInsertIntervalMs: {
    env: "EVENTFOLD_ANALYTICS_INSERT_INTERVAL_MS",
    schema: whole(0),
    default: "1000",
    doc: "ClickHouse inserts start at least this far apart (sooner once `EVENTFOLD_ANALYTICS_INSERT_ROWS` wait), as ClickHouse asks",
  },
  analyticsInsertRows: {
    env: "EVENTFOLD_ANALYTICS_INSERT_ROWS",
    schema: whole(1),
    default: "4000",
    doc: "rows at which a waiting ClickHouse insert goes at once",
  },
  readSideThread: {
    env: "EVENTFOLD_READ_SIDE_THREAD",
    schema: flag,
    default: "1",
    doc: "with `npm start` (one process), the relay, the broker, the projections and the read models run on a thread of their own, so that the event loop that takes HTTP serves only commands and reads of the log; `0`: all on one event loop",
  },
  relayBatch: {
    env: "EVENTFOLD_RELAY_BATCH",
    schema: whole(1),
    default: "1000",
    doc: "events the outbox relay reads and publishes per round",
  },
  relayIntervalMs: {
    env: "EVENTFOLD_RELAY_INTERVAL_MS",
    schema: whole(0),
    default: (env: Env) => (env.AMQP_URL ? "50" : "10"),
    docDefault: "`50` with RabbitMQ, `10` without",
    doc: "a relay round that was not full is followed by at least this pause, so trickling events go in fewer, larger messages (RabbitMQ's cost is per message)",
  },
  relayMaxInFlight: {
    env: "EVENTFOLD_RELAY_MAX_IN_FLIGHT",
    schema: whole(1),
    default: "1024",
    doc: "relay rounds published and not yet confirmed",
  },
  relayMaxEventsInFlight: {
    env: "EVENTFOLD_RELAY_MAX_EVENTS_IN_FLIGHT",
    schema: whole(1),
    default: "20000",
    doc: "events in those rounds, at most",
  },
  relayCheckpointMs: {
    env: "EVENTFOLD_RELAY_CHECKPOINT_MS",
    schema: whole(0),
    default: "100",
    doc: "the relay saves its progress at most this often while events flow: a crash re-publishes at most this much",
  },
  relayLeaseMs: {
    env: "EVENTFOLD_RELAY_LEASE_MS",
    schema: whole(1),
    default: "10000",
    doc: "the relay's lease: another relay takes over this long after the holder stops renewing it",
  },
  retryAttempts: {
    env: "EVENTFOLD_RETRY_ATTEMPTS",
    schema: whole(1),
    default: "5",
    doc: "tries per event and projection before it is dead-lettered",
  },
  retryBaseMs: {
    env: "EVENTFOLD_RETRY_BASE_MS",
    schema: whole(0),
    default: "200",
    doc: "first retry backoff",
  },
  retryMaxMs: {
    env: "EVENTFOLD_RETRY_MAX_MS",
    schema: whole(0),
    default: "10000",
    doc: "longest retry backoff (it doubles from the first up to this)",
  },
  amqpNamespace: {
    env: "EVENTFOLD_AMQP_NAMESPACE",
    schema: prefix,
    default: "eventfold",
    doc: "prefix of every exchange and queue, so deployments can share a broker",
  },
  amqpEventsPerMessage: {
    env: "EVENTFOLD_AMQP_EVENTS_PER_MESSAGE",
    schema: whole(1),
    default: "100",
    doc: "most events the relay puts in one RabbitMQ message (RabbitMQ's cost is per message)",
  },
  amqpPrefetch: {
    env: "EVENTFOLD_AMQP_PREFETCH",
    schema: whole(1),
    default: "256",
    doc: "unacknowledged messages per shard consumer",
  },
  eventsMaxWaitMs: {
    env: "EVENTFOLD_EVENTS_MAX_WAIT_MS",
    schema: whole(0, 30_000),
    default: "30000",
    doc: "longest a long poll of `GET /v1/events` waits for a new event, whatever its `wait` asks (its connection's idle timeout is lengthened by as much)",
  },
  ledgerOff: {
    env: "EVENTFOLD_LEDGER_OFF",
    schema: flag,
    default: "0",
    doc: "1: appends do not extend the ledger's tree and `/v1/ledger` is not served, to measure what the tree costs (bench/); the next start without it extends the tree over what was appended meanwhile. Never in production: a tree made later proves less",
  },
  personalDataPlain: {
    env: "EVENTFOLD_PERSONAL_DATA_PLAIN",
    schema: flag,
    default: "0",
    doc: "1: personal data is stored as it comes, not sealed, and no subject can be erased, to measure what sealing costs (bench/); what was sealed before still reads. Never in production: what is stored so can never be erased",
  },
  masterKey: {
    env: "EVENTFOLD_MASTER_KEY",
    secret: true,
    schema: text.optional(),
    doc: "the 32-byte key (base64url) that wraps each data subject's key, under which personal data is stored encrypted (`npm run eventfold -- ledger keygen` makes one); unset: one made on first start and kept in the data directory as `master-key` (owner-only). Every process of a deployment needs the same one; lost, no personal data can be read again",
  },
  ledgerSigningKey: {
    env: "EVENTFOLD_LEDGER_SIGNING_KEY",
    secret: true,
    schema: text.optional(),
    doc: "the Ed25519 key that signs the ledger's tree heads: base64url of its 32-byte seed or of its PKCS#8 form (`npm run eventfold -- ledger keygen` makes one); unset: one made on first start and kept in the data directory as `ledger-signing-key` (owner-only), which several edges of one deployment cannot share, so set it there",
  },
  ledgerHeadIntervalMs: {
    env: "EVENTFOLD_LEDGER_HEAD_INTERVAL_MS",
    schema: whole(0, 86_400_000),
    default: "10000",
    doc: "a tree head is signed this often while the log grows (and whenever `GET /v1/ledger/head` finds it grown); 0: only when asked",
  },
  eventsHeartbeatMs: {
    env: "EVENTFOLD_EVENTS_HEARTBEAT_MS",
    schema: whole(10, 15_000),
    default: "15000",
    doc: "a `GET /v1/events/stream` consumer gets a comment line after this long without events, so that proxies keep its connection",
  },
  eventsWakeMs: {
    env: "EVENTFOLD_EVENTS_WAKE_MS",
    schema: whole(0, 1_000),
    default: "10",
    doc: "consumers following the end of the event log are woken at most this often: what was committed meanwhile reaches each in one chunk, so many consumers cost in proportion to this rate, not to the commit rate",
  },
  eventsStallMs: {
    env: "EVENTFOLD_EVENTS_STALL_MS",
    schema: whole(100, 600_000),
    default: "10000",
    doc: "a `GET /v1/events/stream` consumer that takes nothing of what was sent for this long is disconnected (it resumes with `Last-Event-ID`): the server holds one chunk for it, never a growing queue",
  },
  readYourWritesMs: {
    env: "EVENTFOLD_READ_YOUR_WRITES_MS",
    schema: whole(1, 30_000),
    default: "5000",
    doc: "longest a read with `minVersion` waits for the read model to reach that version, before `504 projection_behind`",
  },
  redisPrefix: {
    env: "EVENTFOLD_REDIS_PREFIX",
    schema: prefix,
    default: "eventfold:",
    doc: "prefix of every Redis key",
  },
  clickhouseDatabase: {
    env: "EVENTFOLD_CLICKHOUSE_DATABASE",
    // Not `default`: an analyst's unqualified table name reads the current database, which must hold
    // none of the projection's tables; not `system`, ClickHouse's own.
    schema: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "a ClickHouse identifier: A-Z, a-z, 0-9, _")
      .refine((name) => !["default", "system", "information_schema", "INFORMATION_SCHEMA"].includes(name), {
        message: "a database of its own: not default, system or information_schema",
      }),
    default: "eventfold",
    doc: "ClickHouse database",
  },
  analyticsSchema: {
    env: "EVENTFOLD_ANALYTICS_SCHEMA",
    schema: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,59}$/, "a ClickHouse identifier: A-Z, a-z, 0-9, _"),
    default: "analytics",
    doc: "the analysts' views live in the ClickHouse database `<this>_v1` (docs/analytics.md)",
  },
  analyticsSqlTimeoutMs: {
    env: "EVENTFOLD_ANALYTICS_SQL_TIMEOUT_MS",
    schema: whole(100, 3_600_000),
    default: "10000",
    doc: "longest an analyst's SQL query runs (ClickHouse's `max_execution_time`) before `422 query_limit_exceeded`",
  },
  analyticsSqlMaxMemory: {
    env: "EVENTFOLD_ANALYTICS_SQL_MAX_MEMORY",
    schema: whole(1_048_576),
    default: "536870912",
    doc: "bytes of memory an analyst's SQL query may use (`max_memory_usage`) before `422 query_limit_exceeded`",
  },
  analyticsSqlMaxRowsRead: {
    env: "EVENTFOLD_ANALYTICS_SQL_MAX_ROWS_READ",
    schema: whole(1),
    default: "100000000",
    doc: "rows an analyst's SQL query may read (`max_rows_to_read`) before `422 query_limit_exceeded`",
  },
  analyticsSqlMaxRows: {
    env: "EVENTFOLD_ANALYTICS_SQL_MAX_ROWS",
    schema: whole(1, 1_000_000),
    default: "10000",
    doc: "rows an analyst's SQL answer holds at most; past it, the first rows and `truncated: true`",
  },
  analyticsSqlMaxResultBytes: {
    env: "EVENTFOLD_ANALYTICS_SQL_MAX_RESULT_BYTES",
    schema: whole(1_048_576, 1_073_741_824),
    default: "67108864",
    doc: "bytes an analyst's SQL answer may hold (ClickHouse's JSON; `max_result_bytes` on a server) before `422 query_limit_exceeded`",
  },
  analyticsSqlConcurrency: {
    env: "EVENTFOLD_ANALYTICS_SQL_CONCURRENCY",
    schema: whole(1, 64),
    default: "1",
    doc: "analysts' SQL queries run at once per process; one more is `429 overloaded`",
  },
  analyticsSqlThreads: {
    env: "EVENTFOLD_ANALYTICS_SQL_THREADS",
    schema: whole(1, 64),
    default: "1",
    doc: "threads one analyst's SQL query may use (`max_threads`): embedded, chDB shares the service's cores",
  },
  chdbPath: {
    env: "EVENTFOLD_CHDB_PATH",
    schema: text,
    default: (env: Env) => join(env.EVENTFOLD_DATA_DIR || settings.dataDir.default(), "chdb"),
    docDefault: "`$EVENTFOLD_DATA_DIR/chdb`",
    doc: "chDB's data directory (one process at a time)",
  },
} as const;

type Env = Readonly<Record<string, string | undefined>>;
type Settings = typeof settings;

/** Every setting, typed by its schema. */
export type Config = {
  readonly [K in keyof Settings]: z.output<Settings[K]["schema"]>;
};

/** A setting that is not valid: the message names the variable and says what is allowed. */
export class ConfigError extends StartupError {
  override readonly name = "ConfigError";
}

/**
 * The settings from the environment. An empty variable counts as unset. A bad value is a
 * `ConfigError` naming the variable and what it takes; `main` prints it and exits 2.
 */
export const loadConfig = (env: Env = process.env): Config => {
  const config: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(settings) as [keyof Settings, Settings[keyof Settings]][]) {
    const given = env[setting.env] === "" ? undefined : env[setting.env];
    const fallback = "default" in setting ? setting.default : undefined;
    const raw = given ?? (typeof fallback === "function" ? fallback(env) : fallback);
    const parsed = (setting.schema as z.ZodType).safeParse(raw);
    if (!parsed.success) {
      // A URL may hold a password and the API keys are tokens: their values are never printed.
      const shown = "secret" in setting ? "" : ` (got "${raw}")`;
      throw new ConfigError(
        `${setting.env}: expected ${parsed.error.issues[0]?.message ?? "a valid value"}${shown}`,
      );
    }
    config[key] = parsed.data;
  }
  return checked(config as Config);
};

/** The settings that must agree with each other. */
const checked = (config: Config): Config => {
  if (config.mongoDeadlineMs <= config.mongoWriteTimeoutMs) {
    throw new ConfigError(
      `EVENTFOLD_MONGO_DEADLINE_MS: expected more than EVENTFOLD_MONGO_WRITE_TIMEOUT_MS (${config.mongoWriteTimeoutMs}), so that a write may wait for its majority (got "${config.mongoDeadlineMs}")`,
    );
  }
  // With MongoDB, twice its deadline, at least; and the read-your-writes wait of `minVersion`.
  const longestWaitS =
    Math.max(config.mongoUrl ? 2 * config.mongoDeadlineMs : 0, config.readYourWritesMs) / 1000;
  if (config.httpIdleTimeoutS <= longestWaitS) {
    throw new ConfigError(
      `EVENTFOLD_HTTP_IDLE_TIMEOUT_S: expected more than ${longestWaitS}, the longest a request can wait for its answer, or its connection is closed first (got "${config.httpIdleTimeoutS}")`,
    );
  }
  return config;
};

/** The README's table of settings, made from `settings`. */
export const settingsTable = (): string => {
  const rows = Object.values(settings).map((s) => {
    const fallback = "docDefault" in s ? s.docDefault : "default" in s ? `\`${s.default}\`` : "unset";
    return `| \`${s.env}\` | ${fallback} | ${s.doc} |`;
  });
  return ["| variable | default | meaning |", "| --- | --- | --- |", ...rows].join("\n");
};
