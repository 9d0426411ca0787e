import type { AnyAggregate } from "../../src/aggregate.ts";
import type { DomainModule } from "../../src/http/module.ts";
import { transfer } from "./index.ts";
import { transferProblemTypes } from "./problems.ts";
import { transferProcess } from "./process.ts";
import { transferRoutes } from "./routes.ts";

export const transferModule: DomainModule = {
  aggregate: transfer as AnyAggregate,
  routes: transferRoutes,
  problemTypes: transferProblemTypes,
  processes: [transferProcess],
};
