import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { Engine } from "../engine.ts";
import { errorMessage } from "../lib/errors.ts";
import type { CommandMetadata, IdempotencyRequest } from "../runtime/command.ts";
import { ContentionError, MailboxFullError, ShuttingDownError } from "../runtime/errors.ts";
import { callerKey } from "../runtime/idempotency.ts";
import { StoreOverloadedError, StoreUnavailableError } from "../store/event-store.ts";
import { createAuthenticator, mayCall, type Principal } from "./auth.ts";
import { fingerprint } from "./idempotency.ts";
import { buildOpenApi } from "./openapi.ts";
import { fail, ProblemError, problem } from "./problem.ts";
import { parseIdempotencyKey, parseIfMatch, readJsonBody, validate } from "./request.ts";
import type { HttpRoute, Reply } from "./route.ts";

export interface ReadinessCheck {
  readonly name: string;
  readonly check: () => Promise<unknown>;
}

export interface AppOptions {
  readonly readiness?: readonly ReadinessCheck[];
  /** Every route it serves beyond the operations' own: the domain's, the read models', admin. */
  readonly routes?: readonly HttpRoute[];
}

type Env = { Variables: { metadata: CommandMetadata; principal: Principal | undefined } };

const NoQuery = z.strictObject({});
// A probe must answer promptly: a dependency that hangs is as down as one that refuses.
const READINESS_TIMEOUT_MS = 2_000;

const withTimeout = <T>(work: Promise<T>, ms: number, message: string): Promise<T> => {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
};
const visibleAscii = /^[\x21-\x7e]{1,128}$/;
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

const send = (c: Context, reply: Reply): Response => {
  const body = reply.body as { version?: unknown } | null;
  const all: Record<string, string> = {
    "Content-Type": reply.status >= 400 ? "application/problem+json" : "application/json",
    ...reply.headers,
  };
  if (reply.status < 300 && typeof body?.version === "number") all.ETag = `"${body.version}"`;
  return c.body(JSON.stringify(reply.body), reply.status as ContentfulStatusCode, all);
};

/**
 * The status of a request whose client hung up before it was answered (nginx's convention): nobody
 * reads the answer, and it is no fault of the server's.
 */
const CLIENT_CLOSED = 499;

const withRetry = (reply: Reply): Reply => ({ ...reply, headers: { ...reply.headers, "Retry-After": "1" } });

/** Maps exceptions to answers; anything unexpected is a 500 without internals. */
const errorReply = (error: unknown, signal: AbortSignal | undefined): Reply => {
  if (error instanceof ProblemError) return error.reply;
  if (signal?.aborted) {
    return problem(CLIENT_CLOSED, "client_closed_request", "the client closed the connection first");
  }
  if (error instanceof MailboxFullError) {
    return withRetry(problem(429, "overloaded", "this account is receiving too many commands"));
  }
  if (error instanceof StoreOverloadedError || error instanceof ContentionError) {
    return withRetry(problem(503, "overloaded", "the write pipeline is full; retry shortly"));
  }
  if (error instanceof StoreUnavailableError) {
    return withRetry(problem(503, "unavailable", "the event store cannot write now; nothing was kept"));
  }
  if (error instanceof ShuttingDownError) {
    return withRetry(problem(503, "unavailable", "the server is shutting down"));
  }
  return problem(500, "internal_error", "an unexpected error occurred");
};

/** Only a 500 is the server's own fault worth an error line; the 503s above are logged where they start. */
const logFailure = (log: Engine["log"], error: unknown, reply: Reply, context: Record<string, unknown>) => {
  if (reply.status === 500) log.error({ err: error, ...context }, "request failed");
  else if (reply.status === CLIENT_CLOSED) log.debug({ ...context }, "the client hung up");
};

export const createApp = (engine: Engine, options: AppOptions = {}): Hono<Env> => {
  const { config, log, metrics } = engine;
  const authenticate = config.apiKeys ? createAuthenticator(config.apiKeys) : undefined;
  const routes = options.routes ?? [];
  const app = new Hono<Env>();

  app.use(async (c, next) => {
    const requestId = Bun.randomUUIDv7();
    const correlation = c.req.header("x-correlation-id");
    const traceparent = c.req.header("traceparent");
    const correlationId = correlation && visibleAscii.test(correlation) ? correlation : requestId;
    c.set("metadata", {
      commandId: requestId,
      correlationId,
      causationId: requestId,
      ...(traceparent && traceparentFormat.test(traceparent) ? { traceparent } : {}),
    });
    // Before the answer exists: set on a finished answer, Hono copies the whole Response to add it.
    c.header("X-Correlation-Id", correlationId);
    await next();
  });

  app.onError((error, c) => {
    const reply = errorReply(error, c.req.raw.signal);
    logFailure(log, error, reply, { correlationId: c.get("metadata")?.correlationId, path: c.req.path });
    return send(c, reply);
  });
  app.notFound((c) => send(c, problem(404, "not_found", `no route for ${c.req.method} ${c.req.path}`)));

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const checks = options.readiness ?? [];
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          await withTimeout(check(), READINESS_TIMEOUT_MS, `no answer within ${READINESS_TIMEOUT_MS} ms`);
          return [name, "ok"] as const;
        } catch (error) {
          return [name, errorMessage(error)] as const;
        }
      }),
    );
    const down = results.filter(([, status]) => status !== "ok");
    return c.json(
      { status: down.length ? "unavailable" : "ready", checks: Object.fromEntries(results) },
      down.length ? 503 : 200,
    );
  });
  app.get("/metrics", async (c) =>
    c.body(await metrics.registry.metrics(), 200, { "Content-Type": metrics.registry.contentType }),
  );
  const openapi = buildOpenApi(routes);
  app.get("/openapi.json", (c) => c.json(openapi));

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
    const commandSeconds = metrics.commandSeconds.labels({ route: route.path });
    const handler = async (c: Context<Env>) => {
      const started = performance.now();
      const reply = await handle(c, route).catch((error: unknown) => {
        const reply = errorReply(error, c.req.raw.signal);
        if (error instanceof MailboxFullError) metrics.overloaded.inc({ where: "mailbox" });
        if (error instanceof StoreOverloadedError) metrics.overloaded.inc({ where: "store" });
        logFailure(log, error, reply, { correlationId: c.get("metadata").correlationId, route: route.path });
        return reply;
      });
      if (route.command) {
        const code = reply.status < 300 ? "accepted" : ((reply.body as { code?: string }).code ?? "error");
        byOutcome(code).inc();
        commandSeconds.observe((performance.now() - started) / 1000);
      }
      byStatus(reply.status).inc();
      return send(c, reply);
    };
    if (route.method === "post") app.post(route.path, limit, handler);
    else app.get(route.path, handler);
  }

  const handle = async (c: Context<Env>, route: HttpRoute): Promise<Reply> => {
    let principal: Principal | undefined;
    if (authenticate) {
      principal = authenticate(c.req.header("authorization"));
      if (!principal) fail(401, "unauthorized", "send Authorization: Bearer <token>");
      if (!mayCall(principal.role, route.role))
        fail(403, "forbidden", `this route needs the ${route.role} role`);
    }
    const params = route.params ? validate(route.params, c.req.param(), "path") : {};
    const query = validate(route.query ?? NoQuery, c.req.query(), "query");
    const body = route.body ? validate(route.body, await readJsonBody(c), "body") : undefined;

    let expectedVersion: number | undefined;
    let idempotency: IdempotencyRequest | undefined;
    if (route.command) {
      expectedVersion = parseIfMatch(c.req.header("if-match"));
      const key = parseIdempotencyKey(c.req.header("idempotency-key"));
      if (key !== undefined) {
        idempotency = {
          key: callerKey(principal?.name, key),
          fingerprint: fingerprint(route.method, c.req.path, expectedVersion, body),
        };
      }
    }
    return route.handle({
      ...engine.api,
      params,
      query,
      body,
      expectedVersion,
      idempotency,
      metadata: c.get("metadata"),
      signal: c.req.raw.signal,
    });
  };

  return app;
};
