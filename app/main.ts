import { type Config, loadConfig } from "../src/config.ts";
import { StartupError } from "../src/lib/errors.ts";
import type { ServiceRole } from "./service.ts";

const roles: readonly ServiceRole[] = ["all", "edge", "projector"];

/** A start that cannot go on: one line saying why, and exit code 2, before anything is opened. */
const refuse = (message: string): never => {
  console.error(`eventfold: ${message}`);
  process.exit(2);
};

const role = (process.argv[2] ?? "all") as ServiceRole;
if (!roles.includes(role)) refuse(`usage: bun run app/main.ts [${roles.join("|")}]`);

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof StartupError)) throw error;
  config = refuse(error.message);
}

// Loaded only once the settings are known to be good: nothing is opened before then.
const { startService } = await import("./service.ts");
const service = await startService(config, { role, readSideThread: config.readSideThread }).catch(
  (error: unknown) => (error instanceof StartupError ? refuse(error.message) : Promise.reject(error)),
);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, async () => {
    await service.stop();
    process.exit(0);
  });
}
