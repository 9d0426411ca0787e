import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { Checkpoint } from "./checkpoint.js";
import type { components } from "./schema.js";

export type EventEnvelope = components["schemas"]["EventEnvelope"];
export type Problem = components["schemas"]["Problem"];

/** Which events a subscription wants; absent: every event. Several names: any of them. */
export interface SubscriptionFilters {
  readonly aggregateType?: string | readonly string[];
  readonly type?: string | readonly string[];
}

export interface SubscriptionStatus {
  /** The position the subscription resumes after: its last event handled, or further where the server said so. */
  readonly position: number;
  /** Events this subscription has handled since it started. */
  readonly handled: number;
  /** True once the backlog is handled and the subscription follows new events as they are stored. */
  readonly caughtUp: boolean;
  /** How long after it was stored the last event was handled, in milliseconds. */
  readonly lagMs: number | undefined;
  /** Connections opened again after one ended or failed. */
  readonly reconnects: number;
  readonly connected: boolean;
}

export interface Reconnection {
  /** Attempts in a row that got no event (1 after a connection that worked). */
  readonly attempt: number;
  readonly delayMs: number;
  /** Why the last connection ended, e.g. `HTTP 503` or the network error's message. */
  readonly reason: string;
}

export interface SubscribeOptions {
  readonly filters?: SubscriptionFilters;
  readonly checkpoint: Checkpoint;
  /**
   * Applies one event. Called once per event, in position order, never for two events at once: the
   * stream is read no faster than it resolves. If it throws, the subscription stops at that event
   * (its position not saved), and a subscription started again resumes with it.
   */
  handle(event: EventEnvelope): Promise<void> | void;
  /** Stops the subscription: the event being handled is finished first, and `done` resolves. */
  readonly signal?: AbortSignal;
  onCaughtUp?(status: SubscriptionStatus): void;
  onReconnect?(reconnection: Reconnection): void;
  /** The longest wait between two connection attempts (default 30 000). */
  readonly maxRetryDelayMs?: number;
  /** A connection that receives nothing for this long is given up and opened again (default 45 000: the server sends something every 15 s). */
  readonly idleTimeoutMs?: number;
}

export interface Subscription {
  status(): SubscriptionStatus;
  /** Resolves the first time the subscription is caught up; rejects if it stops before. */
  readonly caughtUp: Promise<SubscriptionStatus>;
  /** Resolves once stopped by its signal or `stop()`; rejects with a `SubscriptionError` when it stops by itself. */
  readonly done: Promise<void>;
  /**
   * Stops it (the event being handled is finished first) and waits until it has. Never rejects: a
   * failure before the stop is `done`'s to report. Not to be awaited inside `handle`, which it waits for.
   */
  stop(): Promise<void>;
}

/** Why a subscription stopped by itself: its handler threw, or the server refused it (e.g. 401, 403, 400). */
export class SubscriptionError extends Error {
  override readonly name = "SubscriptionError";
  /** The event the handler threw on; its position is not saved. */
  readonly event?: EventEnvelope;
  /** The refusal's status and problem, when the server refused. */
  readonly status?: number;
  readonly problem?: Problem;

  constructor(
    message: string,
    details: { event?: EventEnvelope; status?: number; problem?: Problem; cause?: unknown } = {},
  ) {
    super(message, "cause" in details ? { cause: details.cause } : undefined);
    this.event = details.event;
    this.status = details.status;
    this.problem = details.problem;
  }
}

export interface Connection {
  readonly baseUrl: string;
  readonly headers: Headers;
  readonly fetch: (request: Request) => Promise<Response>;
}

/** Answers worth trying again: the service is starting, overloaded, or behind a gateway that lost it. */
const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

const names = (value: string | readonly string[] | undefined): string | undefined =>
  value === undefined ? undefined : typeof value === "string" ? value : value.join(",");

/** Resolves after `ms`, or at once when `signal` aborts. */
const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

/** Thrown inside the loop to end a connection and open another. */
class Dropped extends Error {}

/**
 * Follows `GET /v1/events/stream`: reads the backlog after the checkpoint, then each new event as it
 * is stored, and after any disconnection resumes with `Last-Event-ID`. An event at or before the
 * position already handled is never handed over again.
 */
export const subscribe = (connection: Connection, options: SubscribeOptions): Subscription => {
  // Listeners, not AbortSignal.any: Node 20 holds a signal made by `any` weakly, and one collected never aborts.
  const stopping = new AbortController();
  const stopped = stopping.signal;
  const stopOnSignal = () => stopping.abort();
  if (options.signal?.aborted) stopping.abort();
  else options.signal?.addEventListener("abort", stopOnSignal, { once: true });
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
  // Under the base URL's path, as openapi-fetch joins them.
  const url = new URL(`${connection.baseUrl.replace(/\/+$/, "")}/v1/events/stream`);
  const aggregateType = names(options.filters?.aggregateType);
  const type = names(options.filters?.type);
  if (aggregateType) url.searchParams.set("aggregateType", aggregateType);
  if (type) url.searchParams.set("type", type);

  let position = 0;
  let handled = 0;
  let caughtUp = false;
  let lagMs: number | undefined;
  let reconnects = 0;
  let connected = false;
  const status = (): SubscriptionStatus => ({ position, handled, caughtUp, lagMs, reconnects, connected });

  let reachedEnd: (status: SubscriptionStatus) => void = () => {};
  let neverReached: (error: unknown) => void = () => {};
  const firstCaughtUp = new Promise<SubscriptionStatus>((resolve, reject) => {
    reachedEnd = resolve;
    neverReached = reject;
  });
  // Awaiting it is optional: a subscription that fails before catching up must not be an unhandled rejection.
  firstCaughtUp.catch(() => {});

  const take = async (message: EventSourceMessage) => {
    if (message.event === "caught-up") {
      // Everything up to here that the filters want has been sent: a filtered subscription may resume there.
      const at = (JSON.parse(message.data) as { position: number }).position;
      if (at > position) {
        await options.checkpoint.save?.(at);
        position = at;
      }
      caughtUp = true;
      reachedEnd(status());
      options.onCaughtUp?.(status());
      return;
    }
    const at = message.id ? Number(message.id) : Number.NaN;
    if (!Number.isSafeInteger(at))
      throw new SubscriptionError(`an event came without a position: id ${message.id}`);
    if (at <= position) return;
    const event = JSON.parse(message.data) as EventEnvelope;
    try {
      await options.handle(event);
    } catch (cause) {
      throw new SubscriptionError(
        `the handler failed on event ${event.type} at position ${at}: ${String(cause)}`,
        {
          event,
          cause,
        },
      );
    }
    await options.checkpoint.save?.(at);
    position = at;
    handled += 1;
    lagMs = Math.max(0, Date.now() - Date.parse(event.time));
  };

  /** Why a connection ended; `retryAfterMs` where its answer said when to come back (Retry-After). */
  type Ended = { reason: string; progressed: boolean; retryAfterMs?: number };
  /** The stream's `retry:` field: kept for every reconnection after, as EventSource keeps it. */
  let retryMs = 1_000;

  /** Ends the connection unless something arrives within `idleTimeoutMs` (the caller clears it when it does). */
  const giveUpIfSilent = (lost: AbortController) =>
    setTimeout(() => lost.abort(new Dropped(`nothing received for ${idleTimeoutMs} ms`)), idleTimeoutMs);

  /** Reads one answer's events until it ends (why, for the reconnection); throws a `SubscriptionError` to stop. */
  const read = async (body: ReadableStream<Uint8Array>, lost: AbortController): Promise<Ended> => {
    let progressed = false;
    const ended = (reason: string): Ended => ({ reason, progressed });
    const received: EventSourceMessage[] = [];
    const parser = createParser({
      onEvent: (message) => received.push(message),
      onRetry: (ms) => {
        retryMs = ms;
      },
    });
    const decoder = new TextDecoder();
    const reader = body.getReader();
    // A fetch that does not pass its signal on to the body would leave the read pending: cancel it too.
    const cancel = () => reader.cancel(lost.signal.reason).catch(() => {});
    lost.signal.addEventListener("abort", cancel, { once: true });
    connected = true;
    try {
      while (!stopped.aborted) {
        // Only a wait for bytes counts as idle: a slow handler is not a dead connection.
        const idle = giveUpIfSilent(lost);
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } finally {
          clearTimeout(idle);
        }
        if (chunk.done) return ended("the service ended the stream");
        parser.feed(decoder.decode(chunk.value, { stream: true }));
        for (const message of received.splice(0)) {
          if (stopped.aborted) break;
          try {
            await take(message);
          } catch (error) {
            // The consumer's side failed (its handler, its checkpoint) or the event cannot be read:
            // going on would skip the event, and trying again would fail the same way.
            if (error instanceof SubscriptionError) throw error;
            const why = `event ${message.id} could not be taken: ${String(error)}`;
            throw new SubscriptionError(why, { cause: error });
          }
          progressed = true;
        }
      }
      return ended("stopped");
    } catch (error) {
      if (error instanceof SubscriptionError) throw error;
      const why = lost.signal.aborted ? lost.signal.reason : error;
      return ended(why instanceof Error ? why.message : String(why));
    } finally {
      lost.signal.removeEventListener("abort", cancel);
      connected = false;
      caughtUp = false;
      reader.cancel().catch(() => {});
    }
  };

  /** One connection, from the request to the end of its answer. */
  const follow = async (): Promise<Ended> => {
    const lost = new AbortController();
    const stop = () => lost.abort(new Dropped("stopped"));
    stopped.addEventListener("abort", stop, { once: true });
    try {
      const headers = new Headers(connection.headers);
      headers.set("Accept", "text/event-stream");
      headers.set("Last-Event-ID", String(position));
      // Waiting for the answer's head counts as idle too: a dead path may swallow the request.
      const idle = giveUpIfSilent(lost);
      let response: Response;
      try {
        response = await connection.fetch(new Request(url.href, { headers, signal: lost.signal }));
      } catch (error) {
        if (lost.signal.reason instanceof Dropped)
          return { reason: lost.signal.reason.message, progressed: false };
        throw error;
      } finally {
        clearTimeout(idle);
      }
      if (response.status === 200 && response.body) return await read(response.body, lost);
      const text = await response.text().catch(() => "");
      if (stopped.aborted) return { reason: "stopped", progressed: false };
      if (response.status === 200) return { reason: "an answer without a body", progressed: false };
      if (retryable(response.status)) {
        const after = Number(response.headers.get("Retry-After"));
        return {
          reason: `HTTP ${response.status}`,
          progressed: false,
          ...(after > 0 ? { retryAfterMs: after * 1000 } : {}),
        };
      }
      let problem: Problem | undefined;
      try {
        problem = JSON.parse(text) as Problem;
      } catch {}
      throw new SubscriptionError(
        `the service refused the subscription: HTTP ${response.status}${problem?.detail ? `: ${problem.detail}` : ""}`,
        { status: response.status, ...(problem ? { problem } : {}) },
      );
    } finally {
      stopped.removeEventListener("abort", stop);
    }
  };

  const run = async () => {
    position = (await options.checkpoint.load()) ?? 0;
    let attempt = 0;
    while (!stopped.aborted) {
      let ended: Ended;
      try {
        ended = await follow();
      } catch (error) {
        if (error instanceof SubscriptionError) throw error;
        if (stopped.aborted) break;
        ended = { reason: error instanceof Error ? error.message : String(error), progressed: false };
      }
      if (stopped.aborted) break;
      attempt = ended.progressed ? 1 : attempt + 1;
      // The server's hint the first time, doubling for each attempt in a row that got nothing.
      const base = ended.retryAfterMs ?? retryMs;
      const delayMs = Math.round(
        Math.min(maxRetryDelayMs, base * 2 ** (attempt - 1)) * (0.75 + Math.random() / 4),
      );
      reconnects += 1;
      options.onReconnect?.({ attempt, delayMs, reason: ended.reason });
      await pause(delayMs, stopped);
    }
  };

  const done = run()
    .finally(() => options.signal?.removeEventListener("abort", stopOnSignal))
    .then(
      () => neverReached(new SubscriptionError("the subscription was stopped before it caught up")),
      (error: unknown) => {
        neverReached(error);
        throw error;
      },
    );
  return {
    status,
    caughtUp: firstCaughtUp,
    done,
    stop: async () => {
      stopping.abort();
      // How it ended, if not by this stop, is `done`'s to say.
      await done.catch(() => {});
    },
  };
};
