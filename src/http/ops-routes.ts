import type { Env, Hono } from "hono";
import { errorMessage } from "../lib/errors.ts";
import type { Metrics } from "../observability/metrics.ts";

export interface ReadinessCheck {
  readonly name: string;
  readonly check: () => Promise<unknown>;
  /**
   * Whether the process is of no use without it (default true). One that is not required is reported
   * when down but leaves the process ready: the edge still takes writes while analytics is down.
   */
  readonly required?: boolean;
}

// A probe must answer promptly: a dependency that hangs is as down as one that refuses.
const READINESS_TIMEOUT_MS = 2_000;

const withTimeout = <T>(work: Promise<T>, ms: number, message: string): Promise<T> => {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
};

/** What operators and probes call: liveness, readiness naming what is down, metrics, the contract. */
export const mountOpsRoutes = <E extends Env>(
  app: Hono<E>,
  parts: {
    readonly readiness: readonly ReadinessCheck[];
    readonly metrics: Metrics;
    readonly openapi: unknown;
  },
): void => {
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const results = await Promise.all(
      parts.readiness.map(async ({ name, check, required = true }) => {
        try {
          await withTimeout(check(), READINESS_TIMEOUT_MS, `no answer within ${READINESS_TIMEOUT_MS} ms`);
          return { name, status: "ok", required };
        } catch (error) {
          return { name, status: errorMessage(error), required };
        }
      }),
    );
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
  app.get("/metrics", async (c) =>
    c.body(await registry.metrics(), 200, { "Content-Type": registry.contentType }),
  );
  app.get("/openapi.json", (c) => c.json(parts.openapi));
};
