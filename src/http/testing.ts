import { loadConfig } from "../config.ts";
import { createEngine, drainEngine, type Engine } from "../engine.ts";
import { createLogger } from "../observability/log.ts";
import { createMetrics } from "../observability/metrics.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { createApp } from "./app.ts";
import type { DomainModule } from "./module.ts";

export interface TestService {
  readonly engine: Engine;
  /** One request through the whole edge, in-process: `{ status, headers, body }` (the body parsed). */
  request(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

/**
 * An aggregate's modules served as the service serves them, for its end-to-end test: the engine over
 * an in-memory store, the edge with every answer checked against the OpenAPI document (an answer its
 * route does not declare is a 500 `contract_violation`), driven with `app.request`: no socket, no disk.
 */
export const serveForTest = (
  modules: readonly DomainModule[],
  options: { readonly clock?: () => Date } = {},
): TestService => {
  const store = new MemoryStore();
  const engine = createEngine({
    config: { ...loadConfig({ LOG_LEVEL: "silent" }), checkResponses: true },
    store,
    metrics: createMetrics(),
    log: createLogger("silent"),
    aggregates: modules.map((m) => m.aggregate),
    processManagers: modules.flatMap((m) => m.processes ?? []),
    clock: options.clock,
  });
  const app = createApp(engine, {
    routes: modules.flatMap((m) => m.routes),
    problemTypes: modules.flatMap((m) => m.problemTypes),
    checkResponses: true,
  });
  return {
    engine,
    request: async (method, path, body, headers = {}) => {
      const response = await app.request(path, {
        method,
        headers: body === undefined ? headers : { "Content-Type": "application/json", ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} };
    },
    close: async () => {
      await drainEngine(engine);
      await store.close();
    },
  };
};
