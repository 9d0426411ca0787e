import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnService } from "../../app/spawn.ts";
import { removeDeployment } from "../../app/teardown.ts";

export type Mode = "embedded" | "full stack";

export interface RunningServer {
  readonly url: string;
  readonly pid: number;
  /** Where it keeps its data (the embedded event store's file is `events.sqlite` in it). */
  readonly dataDir?: string;
  /** Resident set size of the server process, in bytes. */
  rss(): number;
  stop(): Promise<void>;
}

/** A process's resident set size in bytes; 0 once it is gone (between a kill and a restart). */
/** The RSS's parts: pages mapped from files (libraries) and anonymous memory (heaps, allocators). */
export const rssPartsOf = (pid: number): { fileBytes: number; anonBytes: number } => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
    return { fileBytes: kb("RssFile"), anonBytes: kb("RssAnon") };
  } catch {
    return { fileBytes: 0, anonBytes: 0 };
  }
};

export const rssOf = (pid: number): number => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
};

/**
 * Where the servers the bench starts export their spans (`--otel`). Empty, the default, they trace
 * nothing, whatever this process's environment says: runs stay comparable.
 */
let otlpEndpoint = "";
export const exportSpansTo = (url: string): void => {
  otlpEndpoint = url;
};
/**
 * `--access-log`: the servers log at `info`, one access line per request (to nowhere: their stdout is
 * not kept), as a service on its defaults does; without it they log at `warn`.
 */
const accessLogged = process.argv.includes("--access-log");
/** The environment that says so to a server the bench starts. */
export const tracingEnv = (): Record<string, string> => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint,
  ...(accessLogged ? { LOG_LEVEL: "info" } : {}),
});

/** Generous: how long a server takes to come up is not what the bench measures. */
const startupMs = 60_000;

export const fullStackUrls = {
  amqp: process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672",
  redis: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  /** The full stack's event store when set; the embedded mode always runs SQLite. */
  mongo: process.env.MONGO_URL || undefined,
};

/** Removes what a full-stack server made on the shared servers under its namespace. */
export const removeFullStackNames = (namespace: string): Promise<void> =>
  removeDeployment({
    amqpUrl: fullStackUrls.amqp,
    amqpNamespace: namespace,
    shards: 4,
    redisUrl: fullStackUrls.redis,
    redisPrefix: `${namespace}:`,
  });

/** The same MongoDB deployment, database `name` (the path of a connection string names the database). */
const withDatabase = (url: string, name: string) => {
  const [base = url, query] = url.split("?", 2);
  const hostsEnd = base.indexOf("/", base.indexOf("://") + 3);
  const hosts = hostsEnd === -1 ? base : base.slice(0, hostsEnd);
  return `${hosts}/${name}${query ? `?${query}` : ""}`;
};

const dropMongoDatabase = async (url: string) => {
  const { MongoClient } = await import("mongodb");
  const client = new MongoClient(url);
  try {
    await client.db().dropDatabase();
  } finally {
    await client.close();
  }
};

/** Is RabbitMQ and Redis reachable, so the full-stack mode can run? */
export const fullStackAvailable = async (): Promise<boolean> => {
  const answers = async (port: number) => {
    try {
      const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      socket.end();
      return true;
    } catch {
      return false;
    }
  };
  return (await answers(5672)) && (await answers(6379));
};

/** eventfold in its own process with a fresh data directory and names of its own on shared servers. */
export const startEventfold = async (
  mode: Mode,
  port: number,
  extraEnv: Record<string, string> = {},
): Promise<RunningServer> => {
  const dataDir = mkdtempSync(join(tmpdir(), "eventfold-bench-"));
  const namespace = `bench_${process.pid}_${port}`;
  const env: Record<string, string> = {
    EVENTFOLD_DATA_DIR: dataDir,
    EVENTFOLD_AMQP_NAMESPACE: namespace,
    EVENTFOLD_REDIS_PREFIX: `${namespace}:`,
    EVENTFOLD_CLICKHOUSE_DATABASE: namespace,
    ...(mode === "full stack" ? { AMQP_URL: fullStackUrls.amqp, REDIS_URL: fullStackUrls.redis } : {}),
    MONGO_URL:
      mode === "full stack" && fullStackUrls.mongo ? withDatabase(fullStackUrls.mongo, namespace) : "",
    ...tracingEnv(),
    ...extraEnv,
  };
  const { process: proc, url } = await spawnService({
    port,
    env,
    readyPath: "/readyz",
    timeoutMs: startupMs,
    stdout: "ignore",
  });
  return {
    url,
    pid: proc.pid,
    dataDir,
    rss: () => rssOf(proc.pid),
    stop: async () => {
      proc.kill("SIGTERM");
      const exited = await Promise.race([proc.exited, Bun.sleep(30_000).then(() => undefined)]);
      if (exited === undefined) proc.kill(9);
      rmSync(dataDir, { recursive: true, force: true });
      if (env.MONGO_URL) await dropMongoDatabase(env.MONGO_URL);
      if (mode === "full stack") await removeFullStackNames(namespace);
    },
  };
};

export const startCeiling = async (port: number): Promise<RunningServer> => {
  const { process: proc, url } = await spawnService({
    port,
    entry: "bench/ceiling.ts",
    readyPath: "/requests",
    timeoutMs: startupMs,
    stdout: "ignore",
  });
  return {
    url,
    pid: proc.pid,
    rss: () => rssOf(proc.pid),
    stop: async () => {
      proc.kill(9);
      await proc.exited;
    },
  };
};
