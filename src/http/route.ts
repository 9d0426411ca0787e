import type { z } from "zod";
import type { Role } from "../config.ts";
import type { Engine } from "../engine.ts";
import type { CommandMetadata, Reply } from "../runtime/command.ts";

export interface RouteContext<P, Q, B> {
  readonly engine: Engine;
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  /** From `If-Match` on command routes. */
  readonly expectedVersion?: number;
  /** From `Idempotency-Key` on command routes, already scoped to the caller. */
  readonly idempotency?: { readonly key: string; readonly fingerprint: string };
  readonly metadata: CommandMetadata;
  readonly signal: AbortSignal;
}

export interface RouteSpec<P, Q, B> {
  readonly method: "get" | "post";
  /** Hono path syntax: `/v1/accounts/:id`. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  /** The least role that may call it when auth is on. */
  readonly role: Role;
  readonly params?: z.ZodType<P>;
  readonly query?: z.ZodType<Q>;
  readonly body?: z.ZodType<B>;
  /**
   * A write: takes `If-Match` and `Idempotency-Key`. `storesReply` says the handler stores the reply
   * atomically with its events (single-aggregate commands); otherwise the edge stores it afterwards.
   */
  readonly command?: { readonly storesReply: boolean };
  /** Status → description, for the OpenAPI document. */
  readonly responses: Readonly<Record<number, string>>;
  /** Extra headers derived from a reply (also for replayed replies), e.g. `Location`. */
  readonly headers?: (reply: Reply) => Record<string, string>;
  handle(context: RouteContext<P, Q, B>): Promise<Reply>;
}

/** A route with its types erased, as the edge and the OpenAPI generator see it. */
export type HttpRoute = RouteSpec<unknown, unknown, unknown>;

export const defineRoute = <P = Record<string, never>, Q = Record<string, never>, B = undefined>(
  spec: RouteSpec<P, Q, B>,
): HttpRoute => spec as unknown as HttpRoute;
