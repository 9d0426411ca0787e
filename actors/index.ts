import type { AnyAggregate } from "../src/aggregate.ts";
import type { DomainModule } from "../src/http/module.ts";
import type { ProblemType } from "../src/http/problem-types.ts";
import type { HttpRoute } from "../src/http/route.ts";
import type { DomainApi } from "../src/runtime/api.ts";
import type { ProcessManager } from "../src/runtime/process-runner.ts";
import { accountModule } from "./account/module.ts";
import { transferModule } from "./transfer/module.ts";

/**
 * The registry: the one place the composition root learns which aggregates, routes, refusals and
 * processes the domain has. `npm run eventfold -- new aggregate <name>` adds its module here.
 */
export const modules: readonly DomainModule[] = [accountModule, transferModule];

export const domain: {
  readonly aggregates: readonly AnyAggregate[];
  readonly routes: readonly HttpRoute[];
  readonly problemTypes: readonly ProblemType[];
  readonly processes: readonly ProcessManager<DomainApi>[];
} = {
  aggregates: modules.map((m) => m.aggregate),
  routes: modules.flatMap((m) => m.routes),
  problemTypes: modules.flatMap((m) => m.problemTypes),
  processes: modules.flatMap((m) => m.processes ?? []),
};
