import { loadConfig } from "../src/config.ts";
import { type ServiceRole, startService } from "./service.ts";

const roles: readonly ServiceRole[] = ["all", "edge", "projector"];
const role = (process.argv[2] ?? "all") as ServiceRole;
if (!roles.includes(role)) {
  console.error(`usage: bun run app/main.ts [${roles.join("|")}]`);
  process.exit(2);
}

const service = await startService(loadConfig(), { role });

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, async () => {
    await service.stop();
    process.exit(0);
  });
}
