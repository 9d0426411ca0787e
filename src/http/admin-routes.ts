import { z } from "zod";
import type { Broker } from "../broker/broker.ts";
import type { DeadLetters } from "../broker/dead-letters.ts";
import type { Projector } from "../projector/projector.ts";
import type { EventStore } from "../store/event-store.ts";
import { Envelope } from "./envelope.ts";
import { fail } from "./problem.ts";
import { queryInteger } from "./query.ts";
import { defineRoute, type HttpRoute, type Tag } from "./route.ts";

const tag: Tag = {
  name: "admin",
  description: "Projections and their dead letters, for the admin role",
};
const Name = z.string().regex(/^[a-z][a-z0-9-]{0,63}$/);
const Instant = z.iso.datetime();

const DeadLetterList = z
  .strictObject({
    deadLetters: z
      .record(
        z.string(),
        z.array(
          z.strictObject({
            event: Envelope,
            error: z.string().describe("The last error of its handler"),
            attempts: z.int().min(0).describe("0 where the broker gave up on it without saying"),
            deadLetteredAt: Instant.nullable().describe("null where the broker did not say when"),
          }),
        ),
      )
      .describe("Per projection, the oldest first"),
  })
  .meta({ id: "DeadLetters" });
const Replayed = z
  .strictObject({ replayed: z.int().min(0).describe("How many went back on the queues") })
  .meta({ id: "Replayed" });
const RebuildProgress = z
  .strictObject({
    done: z.int().min(0).describe("Position read up to in the event store"),
    total: z.int().min(0).describe("The store's last position when it began"),
    startedAt: Instant,
    rate: z.int().min(0).optional().describe("Events per second so far"),
    expectedEnd: Instant.optional().describe("When it should be done at that rate"),
    generation: z
      .int()
      .min(1)
      .optional()
      .describe("The generation it fills; the one before serves, complete, until it is done"),
    reason: z
      .enum(["requested", "lost"])
      .describe("Asked for, or started by itself because the read store lost what it held"),
    finishedAt: Instant.optional(),
    error: z.string().optional().describe("Why it stopped, if it failed"),
  })
  .meta({ id: "RebuildProgress" });
const RebuildStarted = z
  .strictObject({ projection: z.string(), rebuild: RebuildProgress })
  .meta({ id: "RebuildStarted" });
const ProjectionList = z
  .strictObject({
    projections: z.array(
      z.strictObject({
        name: z.string(),
        state: z.enum(["running", "rebuilding", "stopped"]),
        position: z
          .int()
          .min(0)
          .describe(
            "The highest global position applied (deliveries are not in order: some below may be queued)",
          ),
        lag: z.int().min(0).describe("Stored events past `position`"),
        rebuild: RebuildProgress.optional(),
        generation: z.int().min(0).optional().describe("The generation readers are served from"),
        lastEventTime: Instant.optional().describe("When the newest event applied was stored"),
        lastAppliedAt: Instant.optional(),
        queued: z.int().min(0).describe("Events waiting on its queues"),
        deadLettered: z.int().min(0),
      }),
    ),
  })
  .meta({ id: "Projections" });

/**
 * Operations on projections and their dead letters, for the `admin` role. Of delivery they only read
 * how much is queued.
 */
export const adminRoutes = (
  projector: Projector,
  deadLetters: DeadLetters,
  queues: Pick<Broker, "queued">,
  store: Pick<EventStore, "headPosition">,
): HttpRoute[] => {
  const known = (name: string) => {
    if (!projector.has(name))
      fail(404, "not_found", `no such projection: ${name}; known: ${projector.names.join(", ")}`);
    return name;
  };
  return [
    defineRoute({
      method: "get",
      path: "/v1/admin/dead-letters",
      operationId: "listDeadLetters",
      summary: "Dead-lettered events with their last error, per projection",
      tag,
      role: "admin",
      query: z.strictObject({
        projection: Name.optional().describe("Only this projection's"),
        limit: queryInteger(1, 10_000).default(1000).describe("At most this many per projection"),
      }),
      success: { status: 200, description: "the dead letters", body: DeadLetterList },
      problems: { 404: ["not_found"] },
      handle: async (ctx) => {
        const names = ctx.query.projection ? [known(ctx.query.projection)] : projector.names;
        const entries = await Promise.all(
          names.map(async (name) => [name, await deadLetters.list(name, ctx.query.limit)] as const),
        );
        return { status: 200, body: { deadLetters: Object.fromEntries(entries) } };
      },
    }),
    defineRoute({
      method: "post",
      path: "/v1/admin/dead-letters/:projection/replay",
      operationId: "replayDeadLetters",
      summary: "Puts a projection's dead letters back on its queues",
      tag,
      role: "admin",
      params: z.strictObject({ projection: Name }),
      success: { status: 200, description: "replayed", body: Replayed },
      problems: { 404: ["not_found"] },
      handle: async (ctx) => ({
        status: 200,
        body: { replayed: await deadLetters.replay(known(ctx.params.projection)) },
      }),
    }),
    defineRoute({
      method: "post",
      path: "/v1/admin/projections/:name/rebuild",
      operationId: "rebuildProjection",
      summary:
        "Drops one projection and refills it from the event store; follow it at GET /v1/admin/projections",
      tag,
      role: "admin",
      params: z.strictObject({ name: Name }),
      success: { status: 202, description: "started (or already running)", body: RebuildStarted },
      problems: { 404: ["not_found"] },
      handle: async (ctx) => {
        const name = known(ctx.params.name);
        return { status: 202, body: { projection: name, rebuild: projector.rebuild(name) } };
      },
    }),
    defineRoute({
      method: "get",
      path: "/v1/admin/projections",
      operationId: "listProjections",
      summary: "Each projection: state, rebuild progress, queue and dead-letter depth",
      tag,
      role: "admin",
      success: { status: 200, description: "every projection", body: ProjectionList },
      handle: async () => {
        const head = await store.headPosition();
        const projections = await Promise.all(
          projector.status().map(async (status) => ({
            ...status,
            lag: Math.max(0, head - status.position),
            queued: await queues.queued(status.name),
            deadLettered: await deadLetters.count(status.name),
          })),
        );
        return { status: 200, body: { projections } };
      },
    }),
  ];
};
