import { loadConfig } from "../config.ts";
import { createEngine, drainEngine, type Engine } from "../engine.ts";
import { createLogger } from "../observability/log.ts";
import { createMetrics } from "../observability/metrics.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { createApp } from "./app.ts";
import type { DomainModule } from "./module.ts";

/**
 * An answer as a test reads it: the body parsed when it is JSON (an object, for every route of the
 * API); a body of another type comes as its text, for the test's assertion to show.
 */
export interface TestAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

/** One request through the whole edge, in-process (`app.request`): a JSON body in, the answer parsed. */
export const requestThrough =
  (app: { request: (path: string, init: RequestInit) => Response | Promise<Response> }) =>
  async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<TestAnswer> => {
    const response = await app.request(path, {
      method,
      headers: body === undefined ? headers : { "Content-Type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    const json = response.headers.get("content-type")?.includes("json");
    const parsed: unknown = text && json ? JSON.parse(text) : text || undefined;
    return { status: response.status, headers: response.headers, body: parsed as Record<string, unknown> };
  };

export interface TestService {
  readonly engine: Engine;
  /** One request through the whole edge, in-process: `{ status, headers, body }` (the body parsed). */
  request(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<TestAnswer>;
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
    request: requestThrough(app),
    close: async () => {
      await drainEngine(engine);
      await store.close();
    },
  };
};
