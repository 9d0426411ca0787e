import type { ProblemType } from "../src/http/problem-types.ts";
import type { HttpRoute } from "../src/http/route.ts";
import type { DomainApi } from "../src/runtime/api.ts";
import type { ProcessManager } from "../src/runtime/process-runner.ts";
import { accountProblemTypes } from "./account/problems.ts";
import { accountRoutes } from "./account/routes.ts";
import { transferProblemTypes } from "./transfer/problems.ts";
import { transferProcess } from "./transfer/process.ts";
import { transferRoutes } from "./transfer/routes.ts";

/**
 * The registry: the one place the composition root learns which routes, refusals and processes the
 * domain has.
 */
export const domain: {
  readonly routes: readonly HttpRoute[];
  readonly problemTypes: readonly ProblemType[];
  readonly processes: readonly ProcessManager<DomainApi>[];
} = {
  routes: [...accountRoutes, ...transferRoutes],
  problemTypes: [...accountProblemTypes, ...transferProblemTypes],
  processes: [transferProcess],
};
