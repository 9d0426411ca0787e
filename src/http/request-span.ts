import type { MiddlewareHandler } from "hono";
import type { Tracing } from "../observability/tracing.ts";
import type { EdgeEnv } from "./pipeline.ts";
import type { HttpRoute } from "./route.ts";

/**
 * A server span per request of a route, a child of the request's own `traceparent` when it sent one.
 * What the request causes carries the span's context instead (a command's metadata, and through it
 * its events), so that the command, its events and their projections join the request's trace.
 * It wraps the route's first step (`inner`), and only while tracing is on: off, a route has no such step at all.
 */
export const requestSpan = (
  tracer: Tracing,
  route: HttpRoute,
  inner: MiddlewareHandler<EdgeEnv>,
): MiddlewareHandler<EdgeEnv> => {
  const name = `${route.method.toUpperCase()} ${route.path}`;
  return async (c, next) => {
    const metadata = c.get("metadata");
    const span = tracer.start(name, {
      kind: "server",
      parent: metadata.traceparent,
      attributes: {
        "http.request.method": c.req.method,
        "http.route": route.path,
        "url.path": c.req.path,
        "eventfold.correlation_id": metadata.correlationId,
      },
    });
    const { traceparent } = span;
    if (traceparent !== undefined) c.set("metadata", { ...metadata, traceparent });
    try {
      return await inner(c, next);
    } finally {
      const status = c.res.status;
      span.set({ "http.response.status_code": status });
      const problemCode = c.get("problemCode");
      if (problemCode !== undefined) span.set({ "eventfold.problem.code": problemCode });
      // Per the HTTP conventions, only an answer that is the server's fault fails a server span.
      span.end(status >= 500 ? `answered ${status} ${problemCode ?? ""}`.trim() : undefined);
    }
  };
};
