import { rmSync } from "node:fs";
import { join } from "node:path";
import { domain } from "../../actors/index.ts";
import type { Config } from "../../src/config.ts";
import { createEngine, drainEngine, type Engine } from "../../src/engine.ts";
import { createApp } from "../../src/http/app.ts";
import { defineRoute, type HttpRoute, type RouteSpec } from "../../src/http/route.ts";
import { requestThrough } from "../../src/http/testing.ts";
import { createLogger } from "../../src/observability/log.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import type { AppendRequest, AppendResult } from "../../src/store/event-store.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../../src/store/store.ts";
import { testConfig } from "./config.ts";
import type { Answer } from "./http.ts";

/** Lines a logger wrote, parsed. */
export interface LogLines {
  readonly lines: Record<string, unknown>[];
  readonly write: (line: string) => void;
}

export const logLines = (): LogLines => {
  const lines: Record<string, unknown>[] = [];
  return { lines, write: (line) => lines.push(JSON.parse(line)) };
};

export interface InProcessApp {
  readonly engine: Engine;
  readonly sqlite: SqliteStore;
  readonly config: Config;
  readonly log: LogLines;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  /** The edge's fetch handler, to serve on a real socket. */
  readonly fetch: (request: Request) => Response | Promise<Response>;
  /** Drains the engine and closes the store; `keepData` leaves the files for the next app. */
  close(options?: { keepData?: boolean }): Promise<void>;
}

/**
 * The engine and the HTTP edge in this process, over a SQLite file, driven with `app.request`: no
 * socket, no read side. `wrap` decorates the store (a fault, a gate); `config` overrides settings.
 */
export const inProcessApp = (
  options: {
    readonly config?: Partial<Config>;
    readonly wrap?: (store: Store) => Store;
    readonly onWritable?: (cause: string | undefined) => void;
    /** The engine's clock (default: the system's). */
    readonly clock?: () => Date;
  } = {},
): InProcessApp => {
  const config = testConfig(options.config);
  const log = logLines();
  const logger = createLogger("info", { write: log.write });
  const sqlite = new SqliteStore({
    path: join(config.dataDir, "events.sqlite"),
    onWritable: options.onWritable,
  });
  const store = options.wrap?.(sqlite) ?? sqlite;
  const engine = createEngine({
    config,
    store,
    metrics: createMetrics(),
    log: logger,
    aggregates: domain.aggregates,
    processManagers: domain.processes,
    clock: options.clock,
  });
  const app = createApp(engine, {
    routes: domain.routes,
    problemTypes: domain.problemTypes,
    checkResponses: true,
    readiness: [{ name: "eventStore", check: () => store.ping() }],
  });
  return {
    engine,
    sqlite,
    config,
    log,
    fetch: app.fetch,
    request: requestThrough(app),
    close: async ({ keepData = false } = {}) => {
      await drainEngine(engine);
      await sqlite.close();
      if (!keepData) rmSync(config.dataDir, { recursive: true, force: true });
    },
  };
};

/**
 * The store with its `append` replaced by `append(request, target)` (`target` the store itself);
 * every other method as it is, bound to the store.
 */
export const aroundAppends = (
  store: Store,
  append: (request: AppendRequest, target: Store) => Promise<AppendResult>,
): Store =>
  new Proxy(store, {
    get(target, property) {
      if (property === "append") return (request: AppendRequest) => append(request, target);
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });

/** A store decorator that holds every append bringing an event of `eventType` until `release`. */
export const holdingAppendsOf = (eventType: string) => {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const held: AppendRequest[] = [];
  const wrap = (store: Store): Store =>
    aroundAppends(store, async (request, target) => {
      if (request.events.some((event) => event.type === eventType)) {
        held.push(request);
        await released;
      }
      return target.append(request);
    });
  return { wrap, held, release: () => release() };
};

type NoParts = Record<string, never>;

/**
 * A route for a test of the edge itself, that takes no path, query or body: what the test is about
 * (method, path, success, problems, handler), the rest (summary, tag, role) filled in.
 */
export const testRoute = (
  spec: Omit<RouteSpec<NoParts, NoParts, undefined>, "summary" | "tag" | "role"> &
    Partial<Pick<RouteSpec<NoParts, NoParts, undefined>, "role">>,
): HttpRoute =>
  defineRoute({
    summary: spec.operationId,
    tag: { name: "test", description: "routes of the edge's own tests" },
    role: "reader",
    ...spec,
  });
