import { mkdirSync } from "node:fs";
import { type ClickHouseClient, createClient } from "@clickhouse/client";
import { StartupError } from "../lib/errors.ts";

type ClickHouseConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>["connection"]>;

export interface ClickHouseTarget {
  /** A ClickHouse server; unset: chDB in-process at `chdbPath`. */
  readonly url?: string;
  readonly chdbPath: string;
}

/**
 * One client type for both: `@clickhouse/client` over HTTP to a server, or over chDB's connection
 * (ClickHouse in-process, same SQL). chDB binds one data directory per process.
 */
export const openClickHouse = async (target: ClickHouseTarget): Promise<ClickHouseClient> => {
  if (target.url) {
    return createClient({ url: target.url, clickhouse_settings: { date_time_input_format: "best_effort" } });
  }
  mkdirSync(target.chdbPath, { recursive: true });
  let connection: ClickHouseConnection;
  try {
    const { createChdbConnection } = await import("chdb/connection");
    // chdb types its connection against its own copy of @clickhouse/client-common; same interface.
    connection = oneAtATime(
      createChdbConnection({ path: target.chdbPath }) as unknown as ClickHouseConnection,
    );
  } catch (error) {
    // The slim image leaves chDB's native library out: say what to set rather than show a stack.
    throw new StartupError(
      `chDB (embedded ClickHouse) cannot be loaded here (${(error as Error).message.split("\n")[0]}): set CLICKHOUSE_URL to a ClickHouse server`,
    );
  }
  return createClient({
    connection,
    clickhouse_settings: { date_time_input_format: "best_effort" },
  });
};

/**
 * chDB runs one query at a time per process anyway, and a query that fails after it began its answer
 * (a time-out, a memory bound) leaves what it wrote to be read as the start of the next query's answer
 * (chdb 3.4): an analyst's failed query would hand its rows to the projection's next lookup. So calls
 * go one after another, and after a failed one, a query that reads and drops that rest runs before the
 * next call.
 */
const BUSY_IS_UP_MS = 60_000;

const oneAtATime = (connection: ClickHouseConnection): ClickHouseConnection => {
  let last: Promise<unknown> = Promise.resolve();
  /** When the call chDB is running now began; undefined when it runs none. */
  let runningSince: number | undefined;
  let closed = false;
  const drain = () => connection.command({ query: "SELECT 1", query_id: crypto.randomUUID() });
  const serially =
    <P, R>(call: (params: P) => Promise<R>) =>
    (params: P): Promise<R> => {
      const run = last.then(async () => {
        runningSince = performance.now();
        try {
          return await call(params);
        } catch (error) {
          await drain().catch(() => {});
          throw error;
        } finally {
          runningSince = undefined;
        }
      });
      last = run.catch(() => {});
      return run;
    };
  return {
    // An engine in this process that has been running a query for less than a minute is up: a ping
    // queued behind an analyst's query (up to its time bound) would have readiness call it down
    // meanwhile. One running longer, or none, is asked.
    ping: (params) =>
      !closed && runningSince !== undefined && performance.now() - runningSince < BUSY_IS_UP_MS
        ? Promise.resolve({ success: true })
        : serially(connection.ping.bind(connection))(params),
    query: serially((params) => connection.query(params)),
    insert: serially((params) => connection.insert(params)),
    command: serially((params) => connection.command(params)),
    exec: serially((params) => connection.exec(params)),
    close: () => {
      closed = true;
      return connection.close();
    },
  };
};

/** Reads all rows of a query with bound parameters. */
export const queryRows = async <T>(
  client: ClickHouseClient,
  query: string,
  params: Record<string, unknown> = {},
): Promise<T[]> => {
  const result = await client.query({ query, query_params: params, format: "JSONEachRow" });
  return result.json<T>();
};
