import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Service, type ServiceOptions, startService } from "../../app/service.ts";
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
    redisPrefix: `${name}:`,
    amqpNamespace: name,
    retryBaseMs: 20,
    projectionBatchMs: 5,
    ...overrides,
  };
};

export interface TestService extends Service {
  readonly config: Config;
  /** Stops the service and removes its data directory. */
  dispose(): Promise<void>;
}

/** A real service on a random port, fully embedded unless told otherwise, with its own data directory. */
export const startTestService = async (
  overrides: Partial<Config> = {},
  options: ServiceOptions = {},
): Promise<TestService> => {
  const config = testConfig(overrides);
  const service = await startService(config, options);
  return {
    ...service,
    config,
    dispose: async () => {
      await service.stop();
      rmSync(config.dataDir, { recursive: true, force: true });
    },
  };
};
