import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { tempDir } from "../support/config.ts";

const root = new URL("../..", import.meta.url).pathname;

describe("configuration from the environment", () => {
  test("every setting has its default when unset or empty", () => {
    const config = loadConfig({ PORT: "", EVENTFOLD_DATA_DIR: "/var/lib/eventfold" });
    expect(config).toMatchObject({ port: 3000, host: "0.0.0.0", logLevel: "info", maxActors: 50_000 });
    expect(config.chdbPath).toBe("/var/lib/eventfold/chdb");
    expect(config.apiKeys).toBeUndefined();
  });

  test("relay rounds go 50 ms apart with RabbitMQ, 10 ms with the in-process broker, or as set", () => {
    expect(loadConfig({}).relayIntervalMs).toBe(10);
    expect(loadConfig({ AMQP_URL: "amqp://guest:guest@127.0.0.1:5672" }).relayIntervalMs).toBe(50);
    expect(loadConfig({ AMQP_URL: "amqp://x", EVENTFOLD_RELAY_INTERVAL_MS: "0" }).relayIntervalMs).toBe(0);
    expect(loadConfig({ EVENTFOLD_RELAY_INTERVAL_MS: "25" }).relayIntervalMs).toBe(25);
  });

  test("a bad value is refused with the variable's name and what it takes", () => {
    const refusal = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      return "accepted";
    };
    expect(refusal({ PORT: "abc" })).toBe('PORT: expected a whole number from 0 to 65535 (got "abc")');
    expect(refusal({ PORT: "70000" })).toBe('PORT: expected a whole number from 0 to 65535 (got "70000")');
    expect(refusal({ EVENTFOLD_RELAY_INTERVAL_MS: "soon" })).toStartWith(
      "EVENTFOLD_RELAY_INTERVAL_MS: expected",
    );
    expect(refusal({ LOG_LEVEL: "verbose" })).toBe(
      'LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent (got "verbose")',
    );
    expect(refusal({ AMQP_URL: "localhost:5672" })).toStartWith("AMQP_URL: expected a URL");
    // An analyst's unqualified table name reads ClickHouse's current database: never the projection's.
    expect(refusal({ EVENTFOLD_CLICKHOUSE_DATABASE: "default" })).toStartWith(
      "EVENTFOLD_CLICKHOUSE_DATABASE: expected a database of its own",
    );
    // The tokens are secrets: the message names the entry, never prints it.
    const keys = refusal({ EVENTFOLD_API_KEYS: "ops:admin:s3cret,app:boss:t0ken" });
    expect(keys).toBe(
      "EVENTFOLD_API_KEYS: expected entry 2 is not name:role:token with role reader, writer or admin",
    );
    expect(refusal({ REDIS_URL: "redis-pass@host" })).toBe(
      "REDIS_URL: expected a URL, e.g. scheme://host:port",
    );
    expect(keys).not.toContain("t0ken");
  });

  test("settings that must agree: a MongoDB deadline above its write time-out, an HTTP idle time-out above the longest wait", () => {
    const mongo = { MONGO_URL: "mongodb://db:27017/bank?replicaSet=rs0" };
    expect(loadConfig(mongo)).toMatchObject({ mongoDeadlineMs: 15_000, httpIdleTimeoutS: 40 });
    expect(() => loadConfig({ ...mongo, EVENTFOLD_MONGO_DEADLINE_MS: "5000" })).toThrow(
      "EVENTFOLD_MONGO_DEADLINE_MS: expected more than EVENTFOLD_MONGO_WRITE_TIMEOUT_MS (5000)",
    );
    // A command may wait for a cold actor's load, then its append: each up to the deadline.
    expect(() => loadConfig({ ...mongo, EVENTFOLD_HTTP_IDLE_TIMEOUT_S: "30" })).toThrow(
      "EVENTFOLD_HTTP_IDLE_TIMEOUT_S: expected more than 30, the longest a request can wait",
    );
    expect(loadConfig({ EVENTFOLD_HTTP_IDLE_TIMEOUT_S: "30" }).httpIdleTimeoutS).toBe(30);
  });

  test("API keys are read as name, role and token", () => {
    expect(loadConfig({ EVENTFOLD_API_KEYS: "ops:admin:a:b, bi:reader:x" }).apiKeys).toEqual([
      { name: "ops", role: "admin", token: "a:b" },
      { name: "bi", role: "reader", token: "x" },
    ]);
  });
});

/** Starts the service with `env` and `args`; what it said on stderr and how it ended. */
const start = async (env: Record<string, string>, args: string[] = [], preload?: string) => {
  const flags = preload ? ["--preload", preload] : [];
  const proc = Bun.spawn([process.execPath, "run", ...flags, "app/main.ts", ...args], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: "silent", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  return { code, stderr: stderr.trim() };
};

describe("a start that cannot go on: one line, exit code 2, no stack trace, before anything is opened", () => {
  test("a bad setting", async () => {
    expect(await start({ PORT: "abc" })).toEqual({
      code: 2,
      stderr: 'eventfold: PORT: expected a whole number from 0 to 65535 (got "abc")',
    });
  });

  test("a port in use", async () => {
    const holder = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("taken") });
    const dataDir = tempDir();
    try {
      const ended = await start({
        PORT: String(holder.port),
        HOST: "127.0.0.1",
        EVENTFOLD_DATA_DIR: dataDir,
      });
      expect(ended).toEqual({
        code: 2,
        stderr: `eventfold: port ${holder.port} on 127.0.0.1 is already in use (PORT)`,
      });
      // Refused before the store was opened: the data directory holds nothing.
      expect(readdirSync(dataDir)).toEqual([]);
    } finally {
      holder.stop(true);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("the edge alone with embedded read models", async () => {
    const ended = await start({ PORT: "0" }, ["edge"]);
    expect(ended.code).toBe(2);
    expect(ended.stderr).toStartWith("eventfold: npm run edge needs REDIS_URL and CLICKHOUSE_URL");
  });

  test("a data file from an earlier format", async () => {
    const dataDir = tempDir();
    try {
      const old = new Database(join(dataDir, "events.sqlite"), { create: true });
      old.exec("CREATE TABLE replies (key TEXT PRIMARY KEY)");
      old.close();
      const ended = await start({ PORT: "0", EVENTFOLD_DATA_DIR: dataDir });
      expect(ended.code).toBe(2);
      expect(ended.stderr).toContain("was written by an earlier eventfold (tables replies)");
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("analytics embedded where chDB is not installed (the slim image)", async () => {
    const dataDir = tempDir();
    try {
      const ended = await start(
        { PORT: "0", EVENTFOLD_DATA_DIR: dataDir },
        [],
        "./test/support/without-chdb.ts",
      );
      expect(ended).toEqual({
        code: 2,
        stderr:
          "eventfold: chDB (embedded ClickHouse) cannot be loaded here (Cannot find module '@chdb/linux-x64-gnu'): set CLICKHOUSE_URL to a ClickHouse server",
      });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
