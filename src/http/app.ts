import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Engine } from "../engine.ts";
import { inRequest } from "../observability/log.ts";
import { tracing } from "../observability/tracing.ts";
import { accessLog } from "./access-log.ts";
import { contractViolation } from "./contract.ts";
import { errorReply, recordFailure } from "./errors.ts";
import { buildOpenApi } from "./openapi.ts";
import { mountOpsRoutes, type OpsParts, type ReadinessCheck } from "./ops-routes.ts";
import { type EdgeEnv, routePipeline, send } from "./pipeline.ts";
import { fail, problem } from "./problem.ts";
import { edgeProblemTypes, type ProblemType } from "./problem-types.ts";
import { headBytes, headerForms, MAX_HEAD_BYTES } from "./request.ts";
import { requestSpan } from "./request-span.ts";
import type { HttpRoute } from "./route.ts";

export type { ReadinessCheck };

export interface AppOptions {
  readonly readiness?: readonly ReadinessCheck[];
  /** The routes it serves beside the operations' own: the domain's, the read models', admin. */
  readonly routes?: readonly HttpRoute[];
  /** The problem codes the routes answer with beyond the edge's own: the domain's, the read models'. */
  readonly problemTypes?: readonly ProblemType[];
  /**
   * Checks every answer of a route against the OpenAPI document before it leaves (status, problem
   * code, body schema); one that does not match becomes a 500 `contract_violation` and an error line.
   * For tests and staging: it reads every body once more.
   */
  readonly checkResponses?: boolean;
  /** Metrics kept on other threads, served with the edge's own (see `mountOpsRoutes`). */
  readonly moreMetrics?: OpsParts["moreMetrics"];
}

const traceparentFormat = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/;

const memoize = <K, V>(make: (key: K) => V): ((key: K) => V) => {
  const made = new Map<K, V>();
  return (key) => {
    let value = made.get(key);
    if (value === undefined) {
      value = make(key);
      made.set(key, value);
    }
    return value;
  };
};

/** Replaces an answer its route does not declare with a 500 saying what is wrong, and logs it. */
const checkAnswer = async (c: Context<EdgeEnv>, route: HttpRoute, log: Engine["log"]): Promise<void> => {
  // A stream does not end: only its status and headers are checked.
  const streams = route.success.contentType === "text/event-stream" && c.res.status === route.success.status;
  const text = streams ? "" : await c.res.clone().text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: the schema check says so.
  }
  const violation = contractViolation(route, c.res.status, c.res.headers, body);
  if (violation === undefined) return;
  log.error({ violation, correlationId: c.get("metadata")?.correlationId }, "answer breaks the contract");
  // Cleared first: Hono would otherwise carry the refused answer's headers (ETag, Location) over.
  c.res = undefined;
  c.res = send(c, problem(500, "contract_violation", violation));
};

/**
 * The HTTP edge: correlation and trace context for every request (and its line in the access log),
 * the operations' routes, and each route through the one pipeline. Every failure, wherever it is
 * thrown, goes through the one error handler, and every answer of a route, failure or not, is counted
 * by its status (and a command's by its outcome) on the way out.
 */
export const createApp = (engine: Engine, options: AppOptions = {}): Hono<EdgeEnv> => {
  const { config, log, metrics } = engine;
  const routes = options.routes ?? [];
  const app = new Hono<EdgeEnv>();
  const pipeline = routePipeline(engine.api, config.apiKeys);

  if (config.accessLog) app.use(accessLog(log));
  app.use(async (c, next) => {
    const requestId = Bun.randomUUIDv7();
    const correlation = c.req.header("x-correlation-id");
    const traceparent = c.req.header("traceparent");
    const correlationId = correlation && headerForms.visibleAscii.test(correlation) ? correlation : requestId;
    c.set("metadata", {
      commandId: requestId,
      correlationId,
      causationId: requestId,
      ...(traceparent && traceparentFormat.test(traceparent) ? { traceparent } : {}),
    });
    // Before the answer exists: set on a finished answer, Hono copies the whole Response to add it.
    c.header("X-Correlation-Id", correlationId);
    if (headBytes(c.req.raw) > MAX_HEAD_BYTES) {
      fail(431, "headers_too_large", `the request line and headers are limited to ${MAX_HEAD_BYTES} bytes`);
    }
    // Every line logged while it is served (its handler's, its failure's) carries its correlation id.
    await inRequest(correlationId, next);
  });

  app.onError((error, c) => {
    const reply = errorReply(error, {
      signal: c.req.raw.signal,
      keyed: c.req.header("idempotency-key") !== undefined,
      read: c.req.method === "GET" || c.req.method === "HEAD",
    });
    recordFailure(log, metrics, error, reply, {
      correlationId: c.get("metadata")?.correlationId,
      path: c.req.path,
    });
    return send(c, reply);
  });
  app.notFound((c) => send(c, problem(404, "not_found", `no route for ${c.req.method} ${c.req.path}`)));

  const problemTypes = [...edgeProblemTypes, ...(options.problemTypes ?? [])];
  mountOpsRoutes(app, {
    readiness: options.readiness ?? [],
    metrics,
    moreMetrics: options.moreMetrics,
    openapi: buildOpenApi({ routes, problemTypes }),
    problemTypes,
  });

  const limit = bodyLimit({
    maxSize: config.maxBodyBytes,
    onError: (c) =>
      send(c, problem(413, "payload_too_large", `bodies are limited to ${config.maxBodyBytes} bytes`)),
  });

  for (const route of routes) {
    const byStatus = memoize((status: number) =>
      metrics.httpRequestCounts.child({ method: route.method, route: route.path, status }),
    );
    const byOutcome = memoize((outcome: string) =>
      metrics.commandCounts.child({ route: route.path, outcome }),
    );
    const observeMs = route.command
      ? metrics.commandDuration.child(route.path)
      : route.method === "get"
        ? metrics.readDuration.child(route.path)
        : undefined;
    const measure: MiddlewareHandler<EdgeEnv> = async (c, next) => {
      const started = performance.now();
      await next();
      if (options.checkResponses) await checkAnswer(c, route, log);
      const { status } = c.res;
      byStatus(status).inc();
      const ended = performance.now();
      observeMs?.(ended - started);
      if (route.command) {
        byOutcome(status < 300 ? "accepted" : (c.get("problemCode") ?? "error")).inc();
        const dispatchedAt = c.get("dispatchedAt");
        const handledAt = c.get("handledAt");
        if (dispatchedAt !== undefined) metrics.writeStages.observe("edge", dispatchedAt - started);
        if (handledAt !== undefined) metrics.writeStages.observe("respond", ended - handledAt);
      }
    };
    // Around the measuring, so that the span holds the whole answer, its check against the contract
    // included.
    const tracer = tracing();
    const outer = tracer ? requestSpan(tracer, route, measure) : measure;
    if (route.method === "post") app.post(route.path, outer, limit, pipeline(route));
    else app.get(route.path, outer, pipeline(route));
  }
  return app;
};
