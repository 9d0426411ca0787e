/**
 * The admin API of a running eventfold, and the analytics SQL route, as the CLI uses them. Its answers
 * are the types generated from the OpenAPI document the service serves (`npm run contract:generate`).
 */
import type { components } from "../../packages/client/src/schema.ts";

type Schemas = components["schemas"];

export type ProjectionInfo = Schemas["Projections"]["projections"][number];
export type DeadLetterInfo = Schemas["DeadLetters"]["deadLetters"][string][number];
export type SqlResult = Schemas["SqlResult"];

export class AdminApiError extends Error {}

export const adminClient = (baseUrl: string, token?: string) => {
  // A POST without a body of its own sends `{}`: the routes refuse any other body where they take none.
  const call = async <T>(method: "GET" | "POST", path: string, body: unknown = {}): Promise<T> => {
    let response: Response;
    try {
      response = await fetch(new URL(path, baseUrl), {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(method === "POST" ? { "content-type": "application/json" } : {}),
        },
        ...(method === "POST" ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      throw new AdminApiError(`cannot reach ${baseUrl}: ${error instanceof Error ? error.message : error}`);
    }
    const answer = (await response.json().catch(() => ({}))) as T & {
      code?: string;
      title?: string;
      detail?: string;
    };
    if (!response.ok) {
      // The problem's code first: it is what scripts and docs/errors.md go by; the detail says why.
      const why = [answer.code, answer.detail ?? answer.title].filter(Boolean).join(": ");
      const retryAfter = response.headers.get("retry-after");
      throw new AdminApiError(
        `${method} ${path}: ${response.status} ${why}${retryAfter ? ` (retry after ${retryAfter} s)` : ""}`.trim(),
      );
    }
    return answer;
  };
  return {
    projections: async () => (await call<Schemas["Projections"]>("GET", "/v1/admin/projections")).projections,
    deadLetters: async (projection?: string) =>
      (
        await call<Schemas["DeadLetters"]>(
          "GET",
          `/v1/admin/dead-letters${projection ? `?projection=${encodeURIComponent(projection)}` : ""}`,
        )
      ).deadLetters,
    replay: async (projection: string) =>
      (
        await call<Schemas["Replayed"]>(
          "POST",
          `/v1/admin/dead-letters/${encodeURIComponent(projection)}/replay`,
        )
      ).replayed,
    replayOne: async (projection: string, eventId: string) =>
      (
        await call<Schemas["Replayed"]>(
          "POST",
          `/v1/admin/dead-letters/${encodeURIComponent(projection)}/${encodeURIComponent(eventId)}/replay`,
        )
      ).replayed,
    discard: async (projection: string, eventId: string) =>
      (
        await call<Schemas["Discarded"]>(
          "POST",
          `/v1/admin/dead-letters/${encodeURIComponent(projection)}/${encodeURIComponent(eventId)}/discard`,
        )
      ).discarded,
    steer: (projection: string, action: "pause" | "resume") =>
      call<Schemas["ProjectionState"]>(
        "POST",
        `/v1/admin/projections/${encodeURIComponent(projection)}/${action}`,
      ),
    rebuild: (projection: string) =>
      call<Schemas["RebuildStarted"]>(
        "POST",
        `/v1/admin/projections/${encodeURIComponent(projection)}/rebuild`,
      ),
    /** A reader key is enough: the route is an analyst's, not an operator's. */
    sql: (query: string, params?: Schemas["SqlQuery"]["params"]) =>
      call<SqlResult>("POST", "/v1/analytics/sql", { query, ...(params ? { params } : {}) }),
  };
};

export type AdminClient = ReturnType<typeof adminClient>;
