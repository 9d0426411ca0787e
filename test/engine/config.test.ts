import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../../src/config.ts";

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
    // The tokens are secrets: the message names the entry, never prints it.
    const keys = refusal({ EVENTFOLD_API_KEYS: "ops:admin:s3cret,app:boss:t0ken" });
    expect(keys).toBe(
      'EVENTFOLD_API_KEYS: expected entry 2 ("app:…") is not name:role:token with role reader, writer or admin',
    );
    expect(keys).not.toContain("t0ken");
  });

  test("API keys are read as name, role and token", () => {
    expect(loadConfig({ EVENTFOLD_API_KEYS: "ops:admin:a:b, bi:reader:x" }).apiKeys).toEqual([
      { name: "ops", role: "admin", token: "a:b" },
      { name: "bi", role: "reader", token: "x" },
    ]);
  });

  test("the service refuses to start on a bad value: one line, exit code 2, no stack trace", async () => {
    const proc = Bun.spawn([process.execPath, "run", "app/main.ts"], {
      cwd: root,
      env: { ...process.env, PORT: "abc" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe('eventfold: PORT: expected a whole number from 0 to 65535 (got "abc")');
  });
});
