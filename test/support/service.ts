import { rmSync } from "node:fs";
import { type Service, type ServiceOptions, startService } from "../../app/service.ts";
import type { Config } from "../../src/config.ts";
import { testConfig } from "./config.ts";

export { chdbPath, tempDir, testConfig, uniqueName } from "./config.ts";

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
