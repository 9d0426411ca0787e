/** The admin API of a running eventfold, as the CLI uses it. */
export interface ProjectionInfo {
  readonly name: string;
  readonly state: string;
  readonly paused: boolean;
  readonly queued: number;
  readonly deadLettered: number;
  readonly rebuild?: {
    readonly done: number;
    readonly total: number;
    readonly startedAt: string;
    readonly rate?: number;
    readonly expectedEnd?: string;
    readonly generation?: number;
    readonly reason: "requested" | "lost";
    readonly finishedAt?: string;
    readonly error?: string;
  };
  readonly generation?: number;
  readonly lastEventTime?: string;
}

export interface DeadLetterInfo {
  readonly event: {
    readonly eventId: string;
    readonly streamId: string;
    readonly version: number;
    readonly type: string;
  };
  readonly error: string;
  readonly attempts: number;
  readonly deadLetteredAt: string | null;
}

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
    projections: async () =>
      (await call<{ projections: ProjectionInfo[] }>("GET", "/v1/admin/projections")).projections,
    deadLetters: async (projection?: string) =>
      (
        await call<{ deadLetters: Record<string, DeadLetterInfo[]> }>(
          "GET",
          `/v1/admin/dead-letters${projection ? `?projection=${encodeURIComponent(projection)}` : ""}`,
        )
      ).deadLetters,
    replay: async (projection: string) =>
      (
        await call<{ replayed: number }>(
          "POST",
          `/v1/admin/dead-letters/${encodeURIComponent(projection)}/replay`,
        )
      ).replayed,
    replayOne: async (projection: string, eventId: string) =>
      (
        await call<{ replayed: number }>(
          "POST",
          `/v1/admin/dead-letters/${encodeURIComponent(projection)}/${encodeURIComponent(eventId)}/replay`,
        )
      ).replayed,
    discard: async (projection: string, eventId: string) =>
      (
        await call<{ discarded: number }>(
          "POST",
          `/v1/admin/dead-letters/${encodeURIComponent(projection)}/${encodeURIComponent(eventId)}/discard`,
        )
      ).discarded,
    steer: (projection: string, action: "pause" | "resume") =>
      call<{ projection: string; state: string; paused: boolean }>(
        "POST",
        `/v1/admin/projections/${encodeURIComponent(projection)}/${action}`,
      ),
    rebuild: (projection: string) =>
      call<{ rebuild: ProjectionInfo["rebuild"] }>(
        "POST",
        `/v1/admin/projections/${encodeURIComponent(projection)}/rebuild`,
      ),
  };
};

export type AdminClient = ReturnType<typeof adminClient>;
