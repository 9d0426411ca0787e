import type { DomainModule } from "../src/engine.ts";
import { account } from "./account/index.ts";
import { accountRoutes } from "./account/routes.ts";
import { transfer } from "./transfer/index.ts";
import { transferProcess } from "./transfer/process.ts";
import { transferRoutes } from "./transfer/routes.ts";

/** The registry: the only place the engine learns which aggregates exist. */
export const modules: readonly DomainModule[] = [
  { aggregates: [account], routes: accountRoutes },
  { aggregates: [transfer], routes: transferRoutes, processes: [transferProcess] },
];
