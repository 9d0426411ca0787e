import { z } from "zod";
import type { Broker } from "../broker/broker.ts";
import type { DeadLetters } from "../broker/dead-letters.ts";
import type { Logger } from "../observability/log.ts";
import type { Projector } from "../projector/projector.ts";
import type { EventEnvelope } from "../store/envelope.ts";
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
const Discarded = z
  .strictObject({ discarded: z.literal(1).describe("The event was dropped from the dead letters") })
  .meta({ id: "Discarded" });
const EventId = z.string().min(1).max(128).describe("The dead-lettered event's `eventId`");
const State = z
  .enum(["running", "paused", "rebuilding", "stopped"])
  .describe(
    "`paused`: an operator paused it, its events wait on its queues; `stopped`: the process is stopping",
  );
const Steered = z
  .strictObject({ projection: z.string(), state: State, paused: z.boolean() })
  .meta({ id: "ProjectionState" });
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
        state: State,
        paused: z.boolean().describe("Paused by an operator (also while it rebuilds)"),
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
  log: Logger,
  /** Opens the personal data of events as published (sealed), as every read of events shows it. */
  open: (events: EventEnvelope[]) => Promise<EventEnvelope[]> = async (events) => events,
): HttpRoute[] => {
  const known = (name: string) => {
    if (!projector.has(name))
      fail(404, "not_found", `no such projection: ${name}; known: ${projector.names.join(", ")}`);
    return name;
  };
  const notDeadLettered = (projection: string, eventId: string): never =>
    fail(404, "not_found", `${projection} has no dead letter of event ${eventId}`);
  const steer = (action: "pause" | "resume", summary: string) =>
    defineRoute({
      method: "post",
      path: `/v1/admin/projections/:name/${action}`,
      operationId: `${action}Projection`,
      summary,
      tag,
      role: "admin",
      params: z.strictObject({ name: Name }),
      success: { status: 200, description: "its state now", body: Steered },
      problems: { 404: ["not_found"] },
      handle: async (ctx) => {
        const name = known(ctx.params.name);
        const status = await projector[action](name);
        log.info({ projection: name, by: ctx.principal ?? null }, `a projection was ${action}d`);
        return { status: 200, body: { projection: name, state: status.state, paused: status.paused } };
      },
    });
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
          names.map(async (name) => {
            const letters = await deadLetters.list(name, ctx.query.limit);
            const events = await open(letters.map((letter) => letter.event));
            return [
              name,
              letters.map((letter, i) => ({ ...letter, event: events[i] ?? letter.event })),
            ] as const;
          }),
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
      path: "/v1/admin/dead-letters/:projection/:eventId/replay",
      operationId: "replayDeadLetter",
      summary: "Puts one dead-lettered event back on its projection's queue, as a first try",
      tag,
      role: "admin",
      params: z.strictObject({ projection: Name, eventId: EventId }),
      success: { status: 200, description: "replayed", body: Replayed },
      problems: { 404: ["not_found"] },
      handle: async (ctx) => {
        const { projection, eventId } = ctx.params;
        if (!(await deadLetters.replayOne(known(projection), eventId))) notDeadLettered(projection, eventId);
        log.info({ projection, eventId, by: ctx.principal ?? null }, "a dead-lettered event was replayed");
        return { status: 200, body: { replayed: 1 } };
      },
    }),
    defineRoute({
      method: "post",
      path: "/v1/admin/dead-letters/:projection/:eventId/discard",
      operationId: "discardDeadLetter",
      summary:
        "Drops one dead-lettered event: its projection does not apply it from the dead letters (logged with who)",
      tag,
      role: "admin",
      params: z.strictObject({ projection: Name, eventId: EventId }),
      success: { status: 200, description: "discarded", body: Discarded },
      problems: { 404: ["not_found"] },
      handle: async (ctx) => {
        const { projection, eventId } = ctx.params;
        if (!(await deadLetters.discard(known(projection), eventId))) notDeadLettered(projection, eventId);
        // A read model may now lack this event for good: who decided so is kept in the log.
        log.warn(
          { projection, eventId, by: ctx.principal ?? null },
          "a dead-lettered event was discarded: its projection will not apply it from the dead letters",
        );
        return { status: 200, body: { discarded: 1 } };
      },
    }),
    steer("pause", "Stops applying events to one projection; they wait on its queues until it resumes"),
    steer("resume", "Applies events to a paused projection again, those that waited first"),
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
