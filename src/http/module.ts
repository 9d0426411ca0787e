import type { AnyAggregate } from "../aggregate.ts";
import type { DomainApi } from "../runtime/api.ts";
import type { ProcessManager } from "../runtime/process-runner.ts";
import type { ProblemType } from "./problem-types.ts";
import type { HttpRoute } from "./route.ts";

/**
 * What one aggregate's folder gives the service (its `module.ts`): the aggregate, its routes, the
 * problem types of its refusals, and any process it drives. The registry (`actors/index.ts`) lists them.
 */
export interface DomainModule {
  readonly aggregate: AnyAggregate;
  readonly routes: readonly HttpRoute[];
  readonly problemTypes: readonly ProblemType[];
  readonly processes?: readonly ProcessManager<DomainApi>[];
}
