/**
 * The admin API of a running eventfold, as the CLI uses it. Its answers are the types generated from the
 * OpenAPI document the service serves (`npm run contract:generate`).
 */
import type { components } from "../../packages/client/src/schema.ts";

type Schemas = components["schemas"];

export type ProjectionInfo = Schemas["Projections"]["projections"][number];
export type DeadLetterInfo = Schemas["DeadLetters"]["deadLetters"][string][number];

export class AdminApiError extends Error {}

export const adminClient = (baseUrl: string, token?: string) => {
  const call = async <T>(method: "GET" | "POST", path: string): Promise<T> => {
    let response: Response;
    try {
      response = await fetch(new URL(path, baseUrl), {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(method === "POST" ? { "content-type": "application/json" } : {}),
        },
        ...(method === "POST" ? { body: "{}" } : {}),
      });
    } catch (error) {
      throw new AdminApiError(`cannot reach ${baseUrl}: ${error instanceof Error ? error.message : error}`);
    }
    const body = (await response.json().catch(() => ({}))) as T & { title?: string; detail?: string };
    if (!response.ok) {
      throw new AdminApiError(
        `${method} ${path}: ${response.status} ${body.detail ?? body.title ?? ""}`.trim(),
      );
    }
    return body;
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
  };
};

export type AdminClient = ReturnType<typeof adminClient>;
