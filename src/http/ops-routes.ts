import type { Context, Env, Hono } from "hono";
import {
  AggregatorRegistry,
  Gauge,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from "prom-client";
import { z } from "zod";
import { answerWithin } from "../lib/deadline.ts";
import { errorMessage } from "../lib/errors.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Components } from "./openapi-components.ts";
import { type ProblemType, problemIndexPage, problemPage } from "./problem-types.ts";
import { NoQuery, readQuery, validate } from "./request.ts";
import type { Tag } from "./route.ts";

export interface ReadinessCheck {
  readonly name: string;
  readonly check: () => Promise<unknown>;
  /**
   * Whether the process is of no use without it (default true). One that is not required is reported
   * when down but leaves the process ready: the edge still takes writes while analytics is down.
   */
  readonly required?: boolean;
}

/** The form of every problem code: the `{code}` of a problem's page. */
const ProblemCode = /^[a-z][a-z_]{0,63}$/;

// A probe must answer promptly: a dependency that hangs is as down as one that refuses.
const READINESS_TIMEOUT_MS = 2_000;

const Health = z.strictObject({ status: z.literal("ok") }).meta({ id: "Health" });
const Readiness = z
  .strictObject({
    status: z
      .enum(["ready", "degraded", "unavailable"])
      .describe("degraded: a dependency this role can work without does not answer"),
    checks: z.record(z.string(), z.string()).describe('Each dependency: "ok", or why it does not answer'),
  })
  .meta({ id: "Readiness" });

const tag: Tag = {
  name: "operations",
  description: "Probes, metrics and the contract: open to all, whether auth is on or not",
};

/** One answer of an operations' route in the OpenAPI document. */
export interface OpsResponse {
  readonly description: string;
  headers?: Record<string, unknown>;
  readonly content: Record<string, unknown>;
}

interface OpsOperation {
  readonly operationId: string;
  readonly responses: Record<number, OpsResponse>;
  readonly [member: string]: unknown;
}

/** The operations' routes in the OpenAPI document: they are served outside the routes' pipeline. */
export const opsPaths = (
  components: Components,
): { tag: Tag; paths: Record<string, { get: OpsOperation }> } => {
  const json = (schema: z.ZodType) => ({
    "application/json": { schema: components.add(schema, "output") },
  });
  const html = { "text/html": { schema: { type: "string" } } };
  const get = (operationId: string, summary: string, responses: Record<number, OpsResponse>) => ({
    get: { operationId, summary, tags: [tag.name], security: [], responses },
  });
  return {
    tag,
    paths: {
      "/healthz": get("getHealth", "200 while the process serves", {
        200: { description: "serving", content: json(Health) },
      }),
      "/readyz": get("getReadiness", "Whether the dependencies this role needs answer, each by name", {
        200: { description: "ready, or degraded", content: json(Readiness) },
        503: { description: "a dependency this role needs does not answer", content: json(Readiness) },
      }),
      "/metrics": get("getMetrics", "Prometheus metrics", {
        200: {
          description: "the text exposition format",
          content: { "text/plain": { schema: { type: "string" } } },
        },
      }),
      "/openapi.json": get("getOpenApi", "This document", {
        200: { description: "OpenAPI 3.1", content: { "application/json": { schema: { type: "object" } } } },
      }),
      "/problems": get("listProblemTypes", "Every problem code, with a link to its page", {
        200: { description: "an HTML page", content: html },
      }),
      "/problems/{code}": {
        get: {
          operationId: "getProblemType",
          summary: "What a problem code means: the page its `type` URI resolves to",
          tags: [tag.name],
          security: [],
          parameters: [
            {
              name: "code",
              in: "path",
              required: true,
              schema: { type: "string", pattern: ProblemCode.source },
            },
          ],
          responses: {
            200: { description: "an HTML page", content: html },
            404: { description: "no such code", content: html },
          },
        },
      },
    },
  };
};

/**
 * What operators and probes call: liveness, readiness naming what is down, metrics, the contract
 * and the page of each problem code.
 */
export interface OpsParts {
  readonly readiness: readonly ReadinessCheck[];
  readonly metrics: Metrics;
  /** Metrics kept on other threads (prom-client's JSON form), summed with these as one scrape. */
  readonly moreMetrics?: () => Promise<readonly MetricObjectWithValues<MetricValue<string>>[]>;
  readonly openapi: unknown;
  readonly problemTypes: readonly ProblemType[];
}

/** Every check at once, each given `READINESS_TIMEOUT_MS`: its status is "ok", or why it does not answer. */
const checkAll = (readiness: readonly ReadinessCheck[]) =>
  Promise.all(
    readiness.map(async ({ name, check, required = true }) => {
      try {
        await answerWithin(
          check(),
          READINESS_TIMEOUT_MS,
          () => new Error(`no answer within ${READINESS_TIMEOUT_MS} ms`),
        );
        return { name, status: "ok", required };
      } catch (error) {
        return { name, status: errorMessage(error), required };
      }
    }),
  );

/**
 * `eventfold_ready{dependency, required}`: what /readyz says, for alerting on. A registry of the app's
 * own, not the engine's: the checks are the app's, and an engine may serve more than one app (tests).
 */
const readinessRegistry = (readiness: readonly ReadinessCheck[]): Registry => {
  const registry = new Registry();
  new Gauge({
    name: "eventfold_ready",
    help: 'Whether each dependency answers its readiness check (1) or not (0), as /readyz says; required="false": the process works on without it, degraded',
    labelNames: ["dependency", "required"] as const,
    registers: [registry],
    async collect() {
      const results = await checkAll(readiness);
      this.reset();
      for (const { name, status, required } of results)
        this.set({ dependency: name, required: String(required) }, status === "ok" ? 1 : 0);
    },
  });
  return registry;
};

type Scrape = readonly MetricObjectWithValues<MetricValue<string>>[];

/**
 * Registries' metrics as one scrape: a family more than one of them keeps (the engine's, on each
 * thread) is summed by its aggregator; one that only one keeps is served as it is (prom-client's
 * aggregator of the process's start time, `omit`, would otherwise drop it).
 */
const combine = (scrapes: readonly Scrape[]): Registry => {
  const kept = new Map<string, number>();
  for (const scrape of scrapes) for (const { name } of scrape) kept.set(name, (kept.get(name) ?? 0) + 1);
  return AggregatorRegistry.aggregate(
    scrapes.map((scrape) =>
      scrape.map((metric) => (kept.get(metric.name) === 1 ? { ...metric, aggregator: "first" } : metric)),
    ),
  );
};

export const mountOpsRoutes = <E extends Env>(app: Hono<E>, parts: OpsParts): void => {
  // They take no query parameter: one given is refused as on every other route, not ignored.
  const get = (path: string, handler: (c: Context<E>) => Response | Promise<Response>) =>
    app.get(path, (c) => {
      validate(NoQuery, readQuery(c), "query");
      return handler(c);
    });
  get("/healthz", (c) => c.json({ status: "ok" }));
  get("/readyz", async (c) => {
    const results = await checkAll(parts.readiness);
    const down = results.filter((r) => r.status !== "ok");
    const blocking = down.some((r) => r.required);
    return c.json(
      {
        status: blocking ? "unavailable" : down.length ? "degraded" : "ready",
        checks: Object.fromEntries(results.map((r) => [r.name, r.status])),
      },
      blocking ? 503 : 200,
    );
  });
  const { registry } = parts.metrics;
  const { moreMetrics } = parts;
  const readiness = readinessRegistry(parts.readiness);
  get("/metrics", async (c) => {
    const text = await combine(
      await Promise.all([
        registry.getMetricsAsJSON(),
        readiness.getMetricsAsJSON(),
        // Another thread that does not answer (stopped, or stuck) costs the scrape its figures,
        // not the edge's own.
        moreMetrics
          ? answerWithin(
              moreMetrics(),
              READINESS_TIMEOUT_MS,
              () => new Error("the other thread's metrics did not come"),
            ).catch(() => [])
          : [],
      ]),
    ).metrics();
    return c.body(text, 200, { "Content-Type": registry.contentType });
  });
  get("/openapi.json", (c) => c.json(parts.openapi));
  const pages = new Map(parts.problemTypes.map((type) => [type.code, problemPage(type)]));
  const index = problemIndexPage(parts.problemTypes);
  get("/problems", (c) => c.html(index));
  get("/problems/:code", (c) => {
    const { code } = validate(z.strictObject({ code: z.string().regex(ProblemCode) }), c.req.param(), "path");
    const page = pages.get(code);
    return page ? c.html(page) : c.html(problemIndexPage(parts.problemTypes), 404);
  });
};
