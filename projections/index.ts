import type { ClickHouseClient } from "@clickhouse/client";
import { account } from "../actors/account/index.ts";
import { openClickHouse } from "../src/analytics/clickhouse.ts";
import { AnalyticsSql, type SqlLimits } from "../src/analytics/sql.ts";
import type { Config } from "../src/config.ts";
import type { HotLookup } from "../src/hot-lookup/hot-lookup.ts";
import { MemoryHotLookup } from "../src/hot-lookup/memory-hot-lookup.ts";
import { RedisHotLookup } from "../src/hot-lookup/redis-hot-lookup.ts";
import type { ReadinessCheck } from "../src/http/app.ts";
import type { ProblemType } from "../src/http/problem-types.ts";
import { elsewhere } from "../src/http/remote-routes.ts";
import type { HttpRoute } from "../src/http/route.ts";
import { exponentialBackoff } from "../src/lib/backoff.ts";
import { personalFieldsOf } from "../src/privacy/personal-data.ts";
import { DocumentKeys } from "../src/projector/document-projection.ts";
import type { Projection } from "../src/projector/projection.ts";
import { accountsProjection } from "./accounts/projection.ts";
import { accountReadRoutes } from "./accounts/routes.ts";
import { analyticsProjection } from "./analytics/projection.ts";
import { analyticsRoutes } from "./analytics/routes.ts";
import { assertIdentifier } from "./analytics/schema.ts";
import { queryableTables } from "./analytics/views.ts";

/** The problems the read routes answer with beyond the edge's. */
export const readSideProblemTypes: readonly ProblemType[] = [
  {
    code: "query_invalid",
    statuses: [400],
    description:
      "An analytics SQL query (`POST /v1/analytics/sql`) that does not parse, names a table, column or function that does not exist, or lacks a value for one of its `{name:Type}` parameters. The detail is ClickHouse's message. See docs/analytics.md for the tables and their columns.",
  },
  {
    code: "query_not_allowed",
    statuses: [403],
    description:
      "An analytics SQL query that is not one read of the documented tables: a second statement, a write, DDL, `SET` or `SETTINGS`, `FORMAT` or `INTO OUTFILE`, a table function (`file`, `url`, `remote`, `s3`, `numbers` …), a table outside docs/analytics.md (the projection's own tables, `system.*`), or a function that reads outside them (`file`, `dictGet`, `joinGet` …). Nothing ran.",
  },
  {
    code: "query_limit_exceeded",
    statuses: [422],
    description:
      "An analytics SQL query went past a bound: its time (`EVENTFOLD_ANALYTICS_SQL_TIMEOUT_MS`), memory (`EVENTFOLD_ANALYTICS_SQL_MAX_MEMORY`), rows read (`EVENTFOLD_ANALYTICS_SQL_MAX_ROWS_READ`) or the size of its answer (`EVENTFOLD_ANALYTICS_SQL_MAX_RESULT_BYTES`). Narrow it: a shorter time range, fewer accounts, the pre-aggregated `daily_balances` or `transfers` rather than `events`. Too many rows returned is not an error: the answer holds the first rows and `truncated: true`.",
  },
  {
    code: "projection_behind",
    statuses: [504],
    description:
      "A read with `minVersion` waited 5 s (or `EVENTFOLD_READ_YOUR_WRITES_MS`) and the read model had not reached that version: the projector is behind or stopped. Read again later, or read the state from the event store (`/v1/accounts/{id}/state`).",
  },
];

/** The names of the projections below; teardown deletes their queues by these names. */
export const projectionNames = ["accounts", "analytics"] as const;

/** The read side: the projections, the routes that read them, and the stores they live in. */
export interface ReadSide {
  readonly projections: readonly Projection[];
  readonly routes: readonly HttpRoute[];
  readonly readiness: readonly ReadinessCheck[];
  readonly hot: HotLookup;
  close(): Promise<void>;
}

export interface ReadSideOptions {
  /** Trouble with a read store that is retried (a server that does not answer yet). */
  readonly onError?: (error: unknown, what: string) => void;
  /**
   * Whether this process writes the read models (the projector): it makes the analytics schema,
   * waiting for ClickHouse if need be, and cannot be ready without it. The edge only reads them.
   */
  readonly writes: boolean;
}

/** The routes that read the read models, over the stores they live in. */
const readRoutes = (
  config: Config,
  hot: HotLookup,
  keys: DocumentKeys,
  clickhouse: ClickHouseClient,
  sql: AnalyticsSql,
) => [
  ...accountReadRoutes(hot, keys, config.readYourWritesMs),
  ...analyticsRoutes(clickhouse, assertIdentifier(config.clickhouseDatabase), sql),
];

/**
 * The read routes' shapes, for an edge whose read models live on another thread (which serves them):
 * the same paths, schemas and documentation, built over stand-ins that are never called.
 */
export const readRouteShapes = (config: Config): HttpRoute[] =>
  readRoutes(
    config,
    elsewhere<HotLookup>("the hot lookup"),
    elsewhere<DocumentKeys>("the hot lookup's keys"),
    elsewhere<ClickHouseClient>("ClickHouse"),
    elsewhere<AnalyticsSql>("analytics SQL"),
  );

/** The bounds of analysts' SQL, from the settings. */
export const analyticsSqlLimits = (config: Config): SqlLimits => ({
  timeoutMs: config.analyticsSqlTimeoutMs,
  maxMemoryBytes: config.analyticsSqlMaxMemory,
  maxRowsToRead: config.analyticsSqlMaxRowsRead,
  maxResultRows: config.analyticsSqlMaxRows,
  maxResultBytes: config.analyticsSqlMaxResultBytes,
  maxThreads: config.analyticsSqlThreads,
  concurrency: config.analyticsSqlConcurrency,
});

/** The registry of projections: Redis (or a map) for hot lookups, ClickHouse (or chDB) for analytics. */
export const createReadSide = async (config: Config, options: ReadSideOptions): Promise<ReadSide> => {
  const onError = options.onError ?? (() => {});
  const hot: HotLookup = config.redisUrl
    ? new RedisHotLookup(config.redisUrl, (error) => onError(error, "Redis"))
    : new MemoryHotLookup();
  const clickhouse = await openClickHouse({ url: config.clickhouseUrl, chdbPath: config.chdbPath });
  const database = assertIdentifier(config.clickhouseDatabase);
  const analytics = analyticsProjection({
    client: clickhouse,
    database,
    aggregateTypes: ["account", "transfer"],
    insertIntervalMs: config.analyticsInsertIntervalMs,
    insertMaxRows: config.analyticsInsertRows,
    viewsSchema: config.analyticsSchema,
    erasure: { aggregateType: account.type, fields: personalFieldsOf(account) },
  });
  // Analysts' SQL runs as a user of its own where there is one: its grants are the views only.
  const analyst = config.clickhouseAnalystUrl
    ? await openClickHouse({ url: config.clickhouseAnalystUrl, chdbPath: config.chdbPath })
    : clickhouse;
  const sql = new AnalyticsSql(analyst, queryableTables(config.analyticsSchema), analyticsSqlLimits(config));
  // A ClickHouse that does not answer yet is waited for (and said so, once per try) by the projector.
  if (options.writes) {
    const backoff = exponentialBackoff({ baseMs: 500, maxMs: 15_000, jitter: 0.2 });
    for (let attempt = 1; ; attempt++) {
      try {
        await analytics.createSchema();
        break;
      } catch (error) {
        onError(error, `ClickHouse (try ${attempt}; again in a moment)`);
        await Bun.sleep(backoff(attempt));
      }
    }
  }
  // Generation 0 is where the documents were kept before generations: `account:<id>`.
  const accountKeys = new DocumentKeys(
    hot,
    `${config.redisPrefix}account:`,
    `${config.redisPrefix}accounts:`,
  );

  return {
    hot,
    projections: [accountsProjection(hot, accountKeys), analytics],
    routes: readRoutes(config, hot, accountKeys, clickhouse, sql),
    readiness: [
      // The edge reads them (a down one fails those reads) but takes writes without them.
      {
        name: "hotLookup",
        required: options.writes,
        check: async () => {
          await hot.ping();
          // Until the projector has refilled it, it answers for part of the accounts, or none.
          if (!hot.volatile && !(await accountKeys.intact())) {
            throw new Error("rebuilding: it lost its data, which the projector refills from the event store");
          }
        },
      },
      {
        name: "analytics",
        required: options.writes,
        check: async () => {
          const { success } = await clickhouse.ping();
          if (!success) throw new Error("ClickHouse does not answer");
        },
      },
    ],
    close: async () => {
      await hot.close();
      if (analyst !== clickhouse) await analyst.close();
      await clickhouse.close();
    },
  };
};
