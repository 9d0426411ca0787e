import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Logger } from "../observability/log.ts";
import type { EdgeEnv } from "./pipeline.ts";

/**
 * One `info` line per request, once it is answered: its method, the route that served it (its
 * pattern, `/v1/accounts/:id`, so that lines group by route; absent when no route matched), the
 * status, the time to the answer in milliseconds (for a stream, to its head) and the correlation id.
 * Outermost, so that an answer the edge gives before any route (a head too large) has its line too.
 */
export const accessLog =
  (log: Logger): MiddlewareHandler<EdgeEnv> =>
  async (c, next) => {
    // A level above info writes nothing: nothing is measured either.
    if (!log.isLevelEnabled("info")) return next();
    const started = performance.now();
    await next();
    log.info(
      {
        method: c.req.method,
        route: routeOf(matchedRoutes(c)),
        status: c.res.status,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
        correlationId: c.get("metadata")?.correlationId,
      },
      "request",
    );
  };

/** The pattern of the last route matched; middleware (`use`) matches every method, a route one. */
const routeOf = (routes: readonly { method: string; path: string }[]): string | undefined => {
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i] as { method: string; path: string };
    if (route.method !== "ALL") return route.path;
  }
  return undefined;
};
