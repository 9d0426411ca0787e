import type { AnyAggregate } from "../src/aggregate.ts";
import type { ProblemType } from "../src/http/problem-types.ts";
import type { HttpRoute } from "../src/http/route.ts";
import type { DomainApi } from "../src/runtime/api.ts";
import type { ProcessManager } from "../src/runtime/process-runner.ts";
import { account } from "./account/index.ts";
import { accountProblemTypes } from "./account/problems.ts";
import { accountRoutes } from "./account/routes.ts";
import { transfer } from "./transfer/index.ts";
import { transferProblemTypes } from "./transfer/problems.ts";
import { transferProcess } from "./transfer/process.ts";
import { transferRoutes } from "./transfer/routes.ts";

/**
 * The registry: the one place the composition root learns which routes, refusals and processes the
 * domain has.
 */
export const domain: {
  readonly aggregates: readonly AnyAggregate[];
  readonly routes: readonly HttpRoute[];
  readonly problemTypes: readonly ProblemType[];
  readonly processes: readonly ProcessManager<DomainApi>[];
} = {
  aggregates: [account, transfer] as readonly AnyAggregate[],
  routes: [...accountRoutes, ...transferRoutes],
  problemTypes: [...accountProblemTypes, ...transferProblemTypes],
  processes: [transferProcess],
};
