import type { Config } from "../src/config.ts";
import type { RouteAnswer, RouteCall } from "../src/http/remote-routes.ts";

/**
 * What the edge's event loop and the read side's thread say to each other, as structured clones: a
 * validated request may hold what JSON would not keep (a query's instants are Dates).
 */
export type ToReadSide =
  | { readonly kind: "start"; readonly config: Config }
  /** Events were appended: the relay looks now rather than at its next poll. */
  | { readonly kind: "wake" }
  | { readonly kind: "call"; readonly id: number; readonly call: RouteCall }
  /** The request of call `id` was given up by its client. */
  | { readonly kind: "cancel"; readonly id: number }
  | { readonly kind: "ready"; readonly id: number; readonly name: string }
  | { readonly kind: "metrics"; readonly id: number }
  | { readonly kind: "stop"; readonly id: number };

export interface ReadinessShape {
  readonly name: string;
  readonly required?: boolean;
}

export type FromReadSide =
  | {
      readonly kind: "started";
      readonly readiness: readonly ReadinessShape[];
      readonly hotLookup: string;
      readonly broker: string;
    }
  /** It could not start: `startup` when for a reason the operator must fix (a setting, a server). */
  | { readonly kind: "failed"; readonly message: string; readonly stack?: string; readonly startup: boolean }
  | { readonly kind: "answer"; readonly id: number; readonly ok: true; readonly value: Answer }
  | { readonly kind: "answer"; readonly id: number; readonly ok: false; readonly message: string };

/** What a call, a readiness check, a scrape or a stop answers. */
export type Answer = RouteAnswer | MetricsJson | null;

/** A registry's metrics as prom-client's `getMetricsAsJSON` gives them. */
export type MetricsJson = readonly unknown[];
