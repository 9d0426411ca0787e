import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { ApiKey } from "../config.ts";
import { toError } from "../lib/errors.ts";
import type { DomainApi } from "../runtime/api.ts";
import type { CommandMetadata, IdempotencyRequest } from "../runtime/command.ts";
import { callerKey } from "../runtime/idempotency.ts";
import { createAuthenticator, mayCall } from "./auth.ts";
import { fingerprint } from "./idempotency.ts";
import { fail, ProblemError, problem } from "./problem.ts";
import { NoQuery, parseIdempotencyKey, parseIfMatch, readJsonBody, readQuery, validate } from "./request.ts";
import type { HttpRoute, Reply } from "./route.ts";

/** What the edge keeps per request: where it came from, and the problem code it was answered with. */
export type EdgeEnv = {
  /** Bun's server, which Hono is handed with each request (none when a test calls the app itself). */
  Bindings: { timeout?(request: Request, seconds: number): void } | undefined;
  Variables: {
    metadata: CommandMetadata;
    problemCode: string | undefined;
    /** When a command's handler was called, and when it returned (`performance.now()`), for the stages. */
    dispatchedAt: number | undefined;
    handledAt: number | undefined;
  };
};

/** A POST that declares no body: none, or `{}` (what many clients send on a POST), and nothing in it. */
const NoBody = z.strictObject({});

/** The request's values of the headers a route declares, by their documented names. */
const declaredHeaders = (c: Context<EdgeEnv>, schema: z.ZodType): Record<string, string | undefined> => {
  const names = Object.keys((schema as { shape?: Record<string, unknown> }).shape ?? {});
  return Object.fromEntries(names.map((name) => [name, c.req.header(name)]));
};

/** Writes a reply: JSON or problem+json, an ETag for a body with a version, the reply's own headers. */
export const send = (c: Context<EdgeEnv>, reply: Reply): Response => {
  if (reply.body instanceof ReadableStream) {
    return c.body(reply.body, reply.status as ContentfulStatusCode, { ...reply.headers });
  }
  const body = reply.body as { version?: unknown; code?: unknown } | null;
  const headers: Record<string, string> = {
    "Content-Type": reply.status >= 400 ? "application/problem+json" : "application/json",
    ...reply.headers,
  };
  if (reply.status < 300 && typeof body?.version === "number") headers.ETag = `"${body.version}"`;
  if (reply.status >= 400 && typeof body?.code === "string") c.set("problemCode", body.code);
  return c.body(JSON.stringify(reply.body), reply.status as ContentfulStatusCode, headers);
};

/**
 * The way every route is served: auth, then path, query and body validated against the route's
 * schemas, then (on a command) `If-Match` and `Idempotency-Key`, then the route's handler with the
 * narrow domain API. A problem anywhere is thrown, and answered by the app's one error handler.
 */
export const routePipeline = (api: DomainApi, apiKeys: readonly ApiKey[] | undefined) => {
  const authenticate = apiKeys ? createAuthenticator(apiKeys) : undefined;
  const serve =
    (route: HttpRoute) =>
    async (c: Context<EdgeEnv>): Promise<Response> => {
      let principal: string | undefined;
      if (authenticate) {
        const found = authenticate(c.req.header("authorization"));
        if (!found) {
          throw new ProblemError({
            ...problem(401, "unauthorized", "send Authorization: Bearer <token>"),
            headers: { "WWW-Authenticate": 'Bearer realm="eventfold"' },
          });
        }
        if (!mayCall(found.role, route.role))
          fail(403, "forbidden", `this route needs the ${route.role} role`);
        principal = found.name;
      }
      const params = route.params ? validate(route.params, c.req.param(), "path") : {};
      const query = validate(route.query ?? NoQuery, readQuery(c), "query");
      const body = route.body ? validate(route.body, await readJsonBody(c), "body") : undefined;
      const headers = route.headers
        ? validate(route.headers, declaredHeaders(c, route.headers), "header")
        : {};
      if (!route.body && route.method === "post") validate(NoBody, await readJsonBody(c), "body");

      let expectedVersion: number | undefined;
      let idempotency: IdempotencyRequest | undefined;
      if (route.command) {
        expectedVersion = parseIfMatch(c.req.header("if-match"));
        const key = parseIdempotencyKey(c.req.header("idempotency-key"));
        if (key !== undefined) {
          idempotency = {
            key: callerKey(principal, key),
            fingerprint: fingerprint(route.method, c.req.path, expectedVersion, body),
          };
        }
      }
      if (route.command) c.set("dispatchedAt", performance.now());
      const reply = await route.handle({
        ...api,
        params,
        query,
        body,
        headers,
        expectedVersion,
        idempotency,
        metadata: c.get("metadata"),
        principal,
        signal: c.req.raw.signal,
        connection: { idleTimeout: (seconds) => c.env?.timeout?.(c.req.raw, seconds) },
      });
      if (route.command) c.set("handledAt", performance.now());
      return send(c, reply);
    };
  // Hono hands only Errors to the app's error handler: anything else thrown becomes one.
  return (route: HttpRoute) => {
    const handler = serve(route);
    return (c: Context<EdgeEnv>) =>
      handler(c).catch((thrown: unknown) => {
        throw toError(thrown);
      });
  };
};
