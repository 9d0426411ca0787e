import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, loadConfig } from "../../src/config.ts";

export const tempDir = (prefix = "eventfold-test-"): string => mkdtempSync(join(tmpdir(), prefix));

/**
 * chDB binds one data directory per process: every in-process service shares it, each with its own
 * database. `setup.ts` (preloaded) removes it after the run.
 */
export const chdbPath = tempDir("eventfold-chdb-");

let services = 0;
/** A name no other service of this test run uses: ClickHouse database, Redis key prefix, RabbitMQ namespace. */
export const uniqueName = (label = "t") => `${label}_${process.pid}_${Date.now().toString(36)}_${++services}`;

export const testConfig = (overrides: Partial<Config> = {}): Config => {
  const name = uniqueName();
  return {
    ...loadConfig({ LOG_LEVEL: "silent" }),
    port: 0,
    dataDir: overrides.dataDir ?? tempDir(),
    chdbPath,
    clickhouseDatabase: name,
    analyticsSchema: `${name}_analytics`,
    redisPrefix: `${name}:`,
    amqpNamespace: name,
    retryBaseMs: 20,
    projectionBatchMs: 5,
    // Every answer a test receives is one the OpenAPI document allows.
    checkResponses: true,
    ...overrides,
  };
};
