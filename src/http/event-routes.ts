import { z } from "zod";
import type { EventFeed, EventFilter } from "../subscriptions/event-feed.ts";
import { Envelope } from "./envelope.ts";
import { eventStream } from "./event-stream.ts";
import { queryInteger } from "./query.ts";
import { defineRoute, type HttpRoute, type Tag } from "./route.ts";

export interface EventRoutesOptions {
  /** The longest a long poll waits, whatever it asks. */
  readonly maxWaitMs: number;
  readonly heartbeatMs: number;
  readonly stallMs: number;
  /** The connection's idle timeout otherwise, in seconds: a long poll's is this plus its wait. */
  readonly idleTimeoutS: number;
}

const tag: Tag = {
  name: "events",
  description:
    "Every stored event in global commit order (`position`), for services that keep their own read models: a page at a time (with a long poll) or as Server-Sent Events; nothing skipped or sent twice, resumable after any restart",
};

const NAMES = "1 to 20 names of 1-64 characters of A-Z, a-z, 0-9, _ . - separated by commas";
/** A comma-separated list of names: `account,transfer`. */
const NAME_LIST = /^[A-Za-z0-9_.-]{1,64}(,[A-Za-z0-9_.-]{1,64}){0,19}$/;
const names = (what: string) =>
  z
    .string()
    .regex(NAME_LIST, NAMES)
    .transform((list) => list.split(","))
    // What the document says of it: zod cannot describe a string turned into a list.
    .meta({ type: "string", pattern: NAME_LIST.source })
    .optional()
    .describe(`Only events of these ${what} (${NAMES}); absent: all`);

const filterFields = {
  aggregateType: names("aggregate types, e.g. `account,transfer`"),
  type: names("event types, e.g. `MoneyDeposited`"),
};

const after = queryInteger(0).default(0).describe("Events with a position greater than this");

const PageQuery = z.strictObject({
  after,
  limit: queryInteger(1, 1000).default(100).describe("At most this many events"),
  wait: queryInteger(0, 30_000)
    .default(0)
    .describe(
      "Milliseconds an answer with no event waits for one to be stored (a long poll); it answers as soon as one is",
    ),
  ...filterFields,
});

const StreamQuery = z.strictObject({ after, ...filterFields });

const StreamHeaders = z.strictObject({
  "Last-Event-ID": queryInteger(0)
    .optional()
    .describe("The `id` of the last event received: the stream resumes after it, whatever `after` says"),
});

const GlobalEventsPage = z
  .strictObject({
    events: z.array(Envelope).describe("Oldest first"),
    next: z
      .int()
      .min(0)
      .describe(
        "Pass as `after` next time: the last event's position, or as far as the log was read when a filter passed none",
      ),
  })
  .meta({ id: "GlobalEventsPage" });

const filterOf = (query: { aggregateType?: string[]; type?: string[] }): EventFilter => ({
  ...(query.aggregateType ? { aggregateTypes: query.aggregateType } : {}),
  ...(query.type ? { types: query.type } : {}),
});

/** `GET /v1/events` and `GET /v1/events/stream`: the event log for consumers outside the service. */
export const eventRoutes = (feed: EventFeed, options: EventRoutesOptions): HttpRoute[] => [
  defineRoute({
    method: "get",
    path: "/v1/events",
    operationId: "listEvents",
    summary: "Stored events after a position, in global order, a page at a time (long poll with `wait`)",
    tag,
    role: "reader",
    query: PageQuery,
    success: {
      status: 200,
      description: "a page of events: pass `next` as `after` for the next one",
      body: GlobalEventsPage,
    },
    handle: async (ctx) => {
      const { limit } = ctx.query;
      const wait = Math.min(ctx.query.wait, options.maxWaitMs);
      if (wait > 0) ctx.connection.idleTimeout(Math.min(255, options.idleTimeoutS + Math.ceil(wait / 1000)));
      const unfollow = feed.follow("polls");
      const page = await feed
        .poll(ctx.query.after, limit, filterOf(ctx.query), wait, ctx.signal)
        .finally(unfollow);
      return { status: 200, body: { events: page.events, next: page.next } };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/events/stream",
    operationId: "streamEvents",
    summary: "Stored events after a position, then each new one as it is stored (Server-Sent Events)",
    description:
      "One SSE event per stored event (`id:` its position, `event:` its type, `data:` its envelope), then `event: caught-up` once the backlog is sent, then new events as they are stored; a comment line at least every 15 s. A consumer that stops taking what is sent is disconnected and resumes with `Last-Event-ID`.",
    tag,
    role: "reader",
    query: StreamQuery,
    headers: StreamHeaders,
    success: {
      status: 200,
      description: "the stream; it does not end while the consumer reads",
      body: Envelope,
      contentType: "text/event-stream",
    },
    handle: async (ctx) => {
      // Silence is the stream's to judge: heartbeats while idle, the stall watchdog while blocked.
      ctx.connection.idleTimeout(0);
      const body = eventStream(feed, {
        after: ctx.headers["Last-Event-ID"] ?? ctx.query.after,
        filter: filterOf(ctx.query),
        heartbeatMs: options.heartbeatMs,
        stallMs: options.stallMs,
        disconnect: () => ctx.connection.idleTimeout(1),
      });
      return {
        status: 200,
        body,
        headers: {
          "Content-Type": "text/event-stream",
          "Cache-Control": "no-cache",
          // nginx would otherwise hold events back to fill its buffer.
          "X-Accel-Buffering": "no",
        },
      };
    },
  }),
];
