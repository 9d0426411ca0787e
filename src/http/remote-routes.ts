import { errorMessage } from "../lib/errors.ts";
import { inRequest } from "../observability/log.ts";
import type { DomainApi } from "../runtime/api.ts";
import type { CommandMetadata, IdempotencyRequest } from "../runtime/command.ts";
import { errorReply, withRetry } from "./errors.ts";
import { ProblemError, problem } from "./problem.ts";
import type { HttpRoute, Reply } from "./route.ts";

/**
 * Routes whose handlers run on another thread. The edge keeps each route's shape (its path, role,
 * schemas and documentation): it authenticates, validates and answers as for any route, and hands
 * only the validated request to the thread that holds what the handler reads. What crosses must
 * survive a structured clone (Dates do; functions do not).
 */

/** A validated request, as the thread that serves the route takes it. */
export interface RouteCall {
  readonly operationId: string;
  readonly params: unknown;
  readonly query: unknown;
  readonly body: unknown;
  readonly headers: unknown;
  readonly expectedVersion?: number;
  readonly idempotency?: IdempotencyRequest;
  readonly metadata: CommandMetadata;
  readonly principal?: string;
}

/** The handler's reply; `failed` when it threw, the reply then being the problem that error comes to. */
export interface RouteAnswer {
  readonly reply: Reply;
  readonly failed: boolean;
}

export type RouteCaller = (call: RouteCall, signal: AbortSignal) => Promise<RouteAnswer>;

/**
 * Stands for a port that lives on another thread, so that a route's shape can be built where its
 * handler never runs: touching it is a wiring error, said at once.
 */
export const elsewhere = <T extends object>(what: string): T =>
  new Proxy({} as T, {
    get: (_target, key) => {
      // What a logger, `await` or a template asks of any object is not a use of the port.
      if (typeof key === "symbol" || key === "then" || key === "toJSON") return undefined;
      throw new Error(`${what} is on another thread: its routes are served there (${String(key)})`);
    },
  });

/**
 * The edge's side: each route's handler sends the validated request to `caller`. A caller that fails
 * (the thread has stopped) is a 503 `unavailable`, to be sent again: the handler never ran.
 */
export const servedElsewhere = (shapes: readonly HttpRoute[], caller: RouteCaller): HttpRoute[] =>
  shapes.map((shape) => ({
    ...shape,
    handle: async (context) => {
      const answer = await caller(
        {
          operationId: shape.operationId,
          params: context.params,
          query: context.query,
          body: context.body,
          headers: context.headers,
          expectedVersion: context.expectedVersion,
          idempotency: context.idempotency,
          metadata: context.metadata,
          principal: context.principal,
        },
        context.signal,
      ).catch((error: unknown) => {
        throw new ProblemError(
          withRetry(
            problem(503, "unavailable", `this route's thread does not answer: ${errorMessage(error)}`),
          ),
        );
      });
      if (answer.failed) throw new ProblemError(answer.reply);
      return answer.reply;
    },
  }));

/**
 * The serving thread's side: runs the handler a call names, as part of the request it came from (its
 * lines, `onFailure`'s too, carry its correlation id). Whatever it throws comes back as the problem
 * the edge would have made of it in-process; `onFailure` sees the error itself, which does not cross.
 */
export const routeServer = (
  routes: readonly HttpRoute[],
  api: DomainApi,
  onFailure: (error: unknown, reply: Reply, call: RouteCall) => void,
): RouteCaller => {
  const byId = new Map(routes.map((route) => [route.operationId, route] as const));
  const serve: RouteCaller = async (call, signal) => {
    const route = byId.get(call.operationId);
    try {
      if (!route) throw new Error(`no route ${call.operationId} is served on this thread`);
      const reply = await route.handle({
        ...api,
        ...call,
        signal,
        // The connection is the edge's: nothing here can steer it.
        connection: { idleTimeout: () => {} },
      });
      return { reply, failed: false };
    } catch (error) {
      const reply = errorReply(error, { signal, keyed: false, read: route?.method === "get" });
      onFailure(error, reply, call);
      return { reply, failed: true };
    }
  };
  return (call, signal) => inRequest(call.metadata.correlationId, () => serve(call, signal));
};
