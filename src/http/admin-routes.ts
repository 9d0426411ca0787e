import { z } from "zod";
import type { Broker } from "../broker/broker.ts";
import type { DeadLetters } from "../broker/dead-letters.ts";
import type { Projector } from "../projector/projector.ts";
import { fail } from "./problem.ts";
import { queryInteger } from "./query.ts";
import { defineRoute, type HttpRoute } from "./route.ts";

const tag = "admin";
const Name = z.string().regex(/^[a-z][a-z0-9-]{0,63}$/);
const NoBody = z.strictObject({});

/**
 * Operations on projections and their dead letters, for the `admin` role. Of delivery they only read
 * how much is queued.
 */
export const adminRoutes = (
  projector: Projector,
  deadLetters: DeadLetters,
  queues: Pick<Broker, "queued">,
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
      summary: "Dead-lettered events with their last error, per projection",
      tag,
      role: "admin",
      query: z.strictObject({
        projection: Name.optional(),
        limit: queryInteger(1, 10_000).default(1000),
      }),
      responses: {
        200: "{ deadLetters: { <projection>: [{ event, error, attempts, deadLetteredAt }] } }",
        404: "not_found",
      },
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
      summary: "Puts a projection's dead letters back on its queues",
      tag,
      role: "admin",
      params: z.strictObject({ projection: Name }),
      body: NoBody,
      responses: { 200: "{ replayed: n }", 404: "not_found" },
      handle: async (ctx) => ({
        status: 200,
        body: { replayed: await deadLetters.replay(known(ctx.params.projection)) },
      }),
    }),
    defineRoute({
      method: "post",
      path: "/v1/admin/projections/:name/rebuild",
      summary:
        "Drops one projection and refills it from the event store; follow it at GET /v1/admin/projections",
      tag,
      role: "admin",
      params: z.strictObject({ name: Name }),
      body: NoBody,
      responses: { 202: "{ projection, rebuild: { done, total, startedAt } }", 404: "not_found" },
      handle: async (ctx) => {
        const name = known(ctx.params.name);
        return { status: 202, body: { projection: name, rebuild: projector.rebuild(name) } };
      },
    }),
    defineRoute({
      method: "get",
      path: "/v1/admin/projections",
      summary: "Each projection: state, rebuild progress, queue and dead-letter depth",
      tag,
      role: "admin",
      responses: { 200: "{ projections: [...] }" },
      handle: async () => {
        const projections = await Promise.all(
          projector.status().map(async (status) => ({
            ...status,
            queued: await queues.queued(status.name),
            deadLettered: await deadLetters.count(status.name),
          })),
        );
        return { status: 200, body: { projections } };
      },
    }),
  ];
};
