import { type SpawnedService, spawnService } from "../../app/spawn.ts";

export type ServerProcess = SpawnedService;

/** Runs `npm start`'s entry point in its own process, so a test can kill -9 it. */
export const spawnServer = (
  dataDir: string,
  port: number,
  env: Record<string, string> = {},
  role: "all" | "edge" | "projector" = "all",
): Promise<ServerProcess> =>
  spawnService({
    port,
    args: [role],
    env: { EVENTFOLD_DATA_DIR: dataDir, EVENTFOLD_CHECK_RESPONSES: "1", ...env },
  });

// Below the ephemeral range (32768+), so no client socket of the test itself can hold the port.
let nextPort = 20_000 + Math.floor(Math.random() * 10_000);
export const freePort = (): number => {
  nextPort += 1;
  return nextPort;
};
