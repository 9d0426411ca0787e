import { type Config, loadConfig } from "../src/config.ts";
import { StartupError } from "../src/lib/errors.ts";
import type { Service, ServiceRole } from "./service.ts";

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
// A read side lost stops the service: commands would still be taken but nothing projected, and only a
// restart (by the supervisor, on exit code 1) brings it back. Lost before the start is done, it stops
// once it is.
let service: Service | undefined;
let lost = false;
const exitLost = (running: Service) => running.stop().finally(() => process.exit(1));
const running = await startService(config, {
  role,
  readSideThread: config.readSideThread,
  onReadSideLost: () => {
    lost = true;
    if (service) exitLost(service);
  },
}).catch((error: unknown) => (error instanceof StartupError ? refuse(error.message) : Promise.reject(error)));

service = running;
if (lost) await exitLost(running);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, async () => {
    await running.stop();
    process.exit(0);
  });
}
