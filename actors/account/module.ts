import type { AnyAggregate } from "../../src/aggregate.ts";
import type { DomainModule } from "../../src/http/module.ts";
import { account } from "./index.ts";
import { accountProblemTypes } from "./problems.ts";
import { accountRoutes } from "./routes.ts";

export const accountModule: DomainModule = {
  aggregate: account as AnyAggregate,
  routes: accountRoutes,
  problemTypes: accountProblemTypes,
};
