import { z } from "zod";
import type { HttpRoute, RouteProblems } from "./route.ts";

/** An RFC 9457 problem as the edge sends it; members beyond these (`transferId`) may follow. */
export const ProblemBody = z
  .looseObject({
    type: z.string().describe("A URI reference to the page of this code: `/problems/<code>`"),
    title: z.string(),
    status: z.int().min(400).max(599),
    detail: z.string(),
    code: z.string().describe("Stable and machine-readable: what a client branches on"),
    errors: z
      .array(
        z.strictObject({
          in: z.enum(["body", "path", "query", "header"]),
          path: z.string(),
          message: z.string(),
        }),
      )
      .optional()
      .describe("On 400: every issue of the request, field by field"),
    written: z
      .enum(["no", "unknown"])
      .optional()
      .describe(
        "On 503 `unavailable` from the event store, to a write: `no`, nothing was written; `unknown`, the write may have been kept, and only a retry with the same `Idempotency-Key` tells which",
      ),
  })
  .meta({ id: "Problem" });

/**
 * The problems any route may answer with, whatever it does: validation (every route refuses unknown
 * query parameters), auth, a head too large, a store that does not answer or a server shutting down;
 * a body's size and type on a POST (every POST reads its body, if only to refuse one); on a command,
 * `If-Match`, `Idempotency-Key` and capacity (only writes queue in a mailbox or the write pipeline).
 * A 500 is documented, never declared by a route: it is a fault, and the check of answers lets it
 * through.
 */
export const edgeProblemsOf = (route: Pick<HttpRoute, "method" | "command">): RouteProblems => ({
  400: ["validation_failed"],
  401: ["unauthorized"],
  403: ["forbidden"],
  ...(route.method === "post" ? { 413: ["payload_too_large"], 415: ["unsupported_media_type"] } : {}),
  431: ["headers_too_large"],
  ...(route.command
    ? { 412: ["version_conflict"], 422: ["idempotency_key_reused"], 429: ["overloaded"] }
    : {}),
  500: ["internal_error", "contract_violation"],
  503: route.command ? ["unavailable", "overloaded"] : ["unavailable"],
});

/** Every problem a route may answer with, by status, its own with the edge's. */
export const problemsOf = (route: HttpRoute): Map<number, readonly string[]> => {
  const merged = new Map<number, readonly string[]>();
  for (const problems of [edgeProblemsOf(route), route.problems ?? {}]) {
    for (const [status, codes] of Object.entries(problems)) {
      const known = merged.get(Number(status)) ?? [];
      merged.set(Number(status), [...new Set([...known, ...(codes ?? [])])]);
    }
  }
  return new Map([...merged].sort(([a], [b]) => a - b));
};

const describeIssues = (error: z.ZodError): string =>
  error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`)
    .join("; ");

/** A header some answers always carry, whatever their route. */
export type EdgeHeader = "X-Correlation-Id" | "WWW-Authenticate" | "Retry-After";

/**
 * The headers an answer of this status must carry, beyond those its route declares on success: what
 * the OpenAPI document marks required and the check of answers holds the edge to.
 */
export const requiredHeadersOf = (status: number): readonly EdgeHeader[] => [
  "X-Correlation-Id",
  ...(status === 401 ? (["WWW-Authenticate"] as const) : []),
  ...(status === 429 || status === 503 ? (["Retry-After"] as const) : []),
];

/**
 * What is wrong with an answer of `route`, by its OpenAPI document: undefined when nothing is. The
 * answers no client receives (499) and the server's own faults (500) are not the route's to declare.
 */
export const contractViolation = (
  route: HttpRoute,
  status: number,
  headers: Headers,
  body: unknown,
): string | undefined => {
  const where = `${route.method.toUpperCase()} ${route.path} answered ${status}`;
  if (status === 499 || status === 500) return undefined;
  const contentType = headers.get("content-type");
  const success = status === route.success.status;
  const required = [...requiredHeadersOf(status), ...(success ? (route.success.headers ?? []) : [])];
  const missing = required.filter((name) => !headers.has(name));
  if (missing.length > 0) return `${where} without the header ${missing.join(", ")}`;
  if (success) {
    const declared = route.success.contentType ?? "application/json";
    if (!contentType?.startsWith(declared)) return `${where} as ${contentType}`;
    // A stream is checked as it is read (its events by the route's own tests), never held whole here.
    if (declared === "text/event-stream") return undefined;
    const parsed = route.success.body.safeParse(body);
    return parsed.success
      ? undefined
      : `${where} with a body unlike its schema: ${describeIssues(parsed.error)}`;
  }
  const codes = problemsOf(route).get(status);
  if (!codes) return `${where}, a status it does not declare`;
  if (!contentType?.startsWith("application/problem+json")) return `${where} as ${contentType}`;
  const parsed = ProblemBody.safeParse(body);
  if (!parsed.success) return `${where} with a problem unlike RFC 9457: ${describeIssues(parsed.error)}`;
  if (!codes.includes(parsed.data.code)) {
    return `${where} with code ${parsed.data.code}, not one it declares (${codes.join(", ")})`;
  }
  return undefined;
};
