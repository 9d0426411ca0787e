import { z } from "zod";
import type { Aggregate, Message } from "../aggregate.ts";
import type { Role } from "../config.ts";
import type { DomainApi } from "../runtime/api.ts";
import type { Accepted } from "../runtime/command.ts";
import { Envelope } from "./envelope.ts";
import { sendCommand } from "./outcome.ts";
import { fail } from "./problem.ts";
import { queryInteger } from "./query.ts";
import { defineRoute, type HttpRoute, type RouteProblems, type Tag } from "./route.ts";
import { IdParams } from "./values.ts";

/**
 * An aggregate as the HTTP API shows it: where its instances live, what people call it, and how its
 * state reads. From this the engine makes its generic routes (`currentRoute`, `storeRoutes`) and its commands'
 * (`commandRoute`), with idempotency, If-Match, ETag, problems and response checks as every route has.
 */
export interface Resource<S, C extends Message, E extends Message, V> {
  readonly aggregate: Aggregate<S, C, E>;
  /** Its collection: `/v1/accounts`. One instance is `<path>/:id`. */
  readonly path: string;
  /** What one is called, lower case: `account`. It names operations (`getAccountState`) and refusals. */
  readonly name: string;
  readonly tag: Tag;
  /** Its state as clients read it: the schema, and the view of a state. */
  readonly view: z.ZodType<V>;
  readonly toView: (id: string, state: S, version: number, updatedAt: string | undefined) => V;
  /**
   * An instance that, as it is now, clients are told does not exist (a rejected transfer never
   * happened): every route of it answers 404. Absent: one with events exists.
   */
  readonly hidden?: (state: S) => boolean;
}

const capitalized = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

const EventsQuery = z.strictObject({
  after: queryInteger(0).default(0).describe("The version after which the page starts"),
  limit: queryInteger(1, 1000).default(100).describe("At most this many events"),
});

const EventsPage = z
  .strictObject({
    events: z.array(Envelope),
    next: z.int().min(1).nullable().describe("The `after` of the next page; null when this one is the last"),
  })
  .meta({ id: "EventsPage" });

const StateQuery = z.strictObject({
  atVersion: queryInteger(1).optional().describe("Right after this event; past the last one: 404"),
});

/** Whether clients are told the instance does not exist, as it is now (`Resource.hidden`). */
const isHidden = async <S, C extends Message, E extends Message, V>(
  resource: Resource<S, C, E, V>,
  ctx: { readonly queries: DomainApi["queries"] },
  id: string,
): Promise<boolean> => resource.hidden?.((await ctx.queries.current(resource.aggregate, id)).state) ?? false;

/** `GET <path>/:id/events`: one instance's events in version order, a page at a time. */
export const eventsRoute = <S, C extends Message, E extends Message, V>(
  resource: Resource<S, C, E, V>,
): HttpRoute => {
  const { aggregate, name } = resource;
  return defineRoute({
    method: "get",
    path: `${resource.path}/:id/events`,
    operationId: `list${capitalized(name)}Events`,
    summary: `The events of one ${name}, in version order, a page at a time`,
    tag: resource.tag,
    role: "reader",
    params: IdParams,
    query: EventsQuery,
    success: {
      status: 200,
      description: "a page of events: pass `next` as `after` for the next page; null at the end",
      body: EventsPage,
    },
    problems: { 404: ["not_found"] },
    handle: async (ctx) => {
      const { after, limit } = ctx.query;
      const [first, events] = await Promise.all([
        ctx.queries.events(aggregate, ctx.params.id, { limit: 1 }),
        ctx.queries.events(aggregate, ctx.params.id, { after, limit }),
      ]);
      if (first.length === 0 || (await isHidden(resource, ctx, ctx.params.id)))
        fail(404, "not_found", `no such ${name}`);
      const last = events.at(-1);
      return { status: 200, body: { events, next: events.length === limit && last ? last.version : null } };
    },
  });
};

/** `GET <path>/:id/state[?atVersion=N]`: one instance now, or right after its event N, folded from the store. */
export const stateRoute = <S, C extends Message, E extends Message, V>(
  resource: Resource<S, C, E, V>,
): HttpRoute => {
  const { aggregate, name } = resource;
  return defineRoute({
    method: "get",
    path: `${resource.path}/:id/state`,
    operationId: `get${capitalized(name)}State`,
    summary: `The ${name} as it was right after event atVersion (default: now), replayed from the store`,
    tag: resource.tag,
    role: "reader",
    params: IdParams,
    query: StateQuery,
    success: {
      status: 200,
      description: `the ${name} at that version`,
      body: resource.view,
      headers: ["ETag"],
    },
    problems: { 404: ["not_found"] },
    handle: async (ctx) => {
      const { atVersion } = ctx.query;
      const { state, version, updatedAt } = await ctx.queries.asOf(aggregate, ctx.params.id, atVersion);
      if (version === 0 || (await isHidden(resource, ctx, ctx.params.id)))
        fail(404, "not_found", `no such ${name}`);
      if (atVersion !== undefined && version < atVersion) {
        fail(404, "not_found", `the ${name} has ${version} events, fewer than ${atVersion}`);
      }
      return { status: 200, body: resource.toView(ctx.params.id, state, version, updatedAt) };
    },
  });
};

/** `GET <path>/:id`: one instance as its actor holds it (its last durable state). */
export const currentRoute = <S, C extends Message, E extends Message, V>(
  resource: Resource<S, C, E, V>,
  summary = `One ${resource.name}, as it is now`,
): HttpRoute => {
  const { aggregate, name } = resource;
  return defineRoute({
    method: "get",
    path: `${resource.path}/:id`,
    operationId: `get${capitalized(name)}`,
    summary,
    tag: resource.tag,
    role: "reader",
    params: IdParams,
    success: { status: 200, description: `the ${name}`, body: resource.view, headers: ["ETag"] },
    problems: { 404: ["not_found"] },
    handle: async (ctx) => {
      const { state, version, updatedAt } = await ctx.queries.current(aggregate, ctx.params.id);
      if (version === 0 || resource.hidden?.(state)) fail(404, "not_found", `no such ${name}`);
      return { status: 200, body: resource.toView(ctx.params.id, state, version, updatedAt) };
    },
  });
};

/** The routes read from the store: an instance's events, and its state at any version. */
export const storeRoutes = <S, C extends Message, E extends Message, V>(
  resource: Resource<S, C, E, V>,
): HttpRoute[] => [eventsRoute(resource), stateRoute(resource)];

export interface CommandRouteSpec<S, C extends Message, B, R> {
  /**
   * `deposits`: `POST <path>/:id/deposits` sends the command to that instance. Absent: `POST <path>`
   * creates one, with the id `idOf` takes from the body or, without one, a UUIDv7 the server makes up.
   */
  readonly action?: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  /** The request body (default: none, or `{}`). */
  readonly body?: z.ZodType<B>;
  /** The command the body asks for. */
  readonly command: (body: B) => C;
  /** For a route that creates: the id the client chose, if it did. */
  readonly idOf?: (body: B) => string | undefined;
  readonly success: { readonly description: string; readonly body: z.ZodType<R> };
  /** The success body, from what the command left. */
  readonly reply: (outcome: Accepted<S>) => R;
  /** Its refusals by status (a route to an instance answers 404 `not_found` too). */
  readonly problems?: RouteProblems;
  /** Default `writer`. */
  readonly role?: Role;
}

/**
 * A command's route: body → command → the actor → the reply, 200 (201 with `Location` for one that
 * creates). Idempotency-Key, If-Match, the ETag and the problem pages come with it.
 */
export const commandRoute = <S, C extends Message, E extends Message, V, B, R>(
  resource: Resource<S, C, E, V>,
  spec: CommandRouteSpec<S, C, B, R>,
): HttpRoute => {
  const { aggregate, tag, path } = resource;
  const { action, operationId, summary, description, role = "writer" } = spec;
  const body = spec.body ?? (z.strictObject({}) as unknown as z.ZodType<B>);
  const common = { method: "post", operationId, summary, tag, role, body, command: true } as const;
  if (action === undefined) {
    return defineRoute({
      ...common,
      path,
      description:
        description ??
        `Without an id the server makes one (a UUIDv7); a retry with the same \`Idempotency-Key\` gets the same.`,
      success: { status: 201, ...spec.success, headers: ["Location", "ETag"] },
      ...(spec.problems ? { problems: spec.problems } : {}),
      handle: (ctx) =>
        // The id comes from the outcome: a retry replays the first one's, made up or not.
        sendCommand(
          ctx,
          aggregate,
          spec.idOf?.(ctx.body) ?? Bun.randomUUIDv7(),
          spec.command(ctx.body),
          (o) => ({
            status: 201,
            body: spec.reply(o),
            headers: { Location: `${path}/${o.id}` },
          }),
        ),
    });
  }
  return defineRoute({
    ...common,
    path: `${path}/:id/${action}`,
    ...(description ? { description } : {}),
    params: IdParams,
    success: { status: 200, ...spec.success, headers: ["ETag"] },
    problems: { ...spec.problems, 404: [...new Set(["not_found", ...(spec.problems?.[404] ?? [])])] },
    handle: (ctx) =>
      sendCommand(ctx, aggregate, ctx.params.id, spec.command(ctx.body), (o) => ({
        status: 200,
        body: spec.reply(o),
      })),
  });
};

/** A resource with its routes' makers at hand, its types fixed once: `accounts.command({ … })`. */
export interface DefinedResource<S, C extends Message, E extends Message, V> extends Resource<S, C, E, V> {
  command<B = Record<string, never>, R = unknown>(spec: CommandRouteSpec<S, C, B, R>): HttpRoute;
  /** Its events and its state at any version, read from the store (`storeRoutes`). */
  storeRoutes(): HttpRoute[];
  /** `GET <path>/:id` from its actor (`currentRoute`). */
  current(summary?: string): HttpRoute;
}

export const defineResource = <S, C extends Message, E extends Message, V>(
  resource: Resource<S, C, E, V>,
): DefinedResource<S, C, E, V> => ({
  ...resource,
  command: (spec) => commandRoute(resource, spec),
  storeRoutes: () => storeRoutes(resource),
  current: (summary) => currentRoute(resource, summary),
});
