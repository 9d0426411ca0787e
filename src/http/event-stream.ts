import type { EventEnvelope } from "../store/envelope.ts";
import type { EventFeed, EventFilter } from "../subscriptions/event-feed.ts";

export interface EventStreamOptions {
  readonly after: number;
  readonly filter: EventFilter;
  /** A comment line is sent after this long without anything else, so proxies keep the stream. */
  readonly heartbeatMs: number;
  /**
   * A consumer that has not taken what was sent for this long is cut off (`disconnect`): what the
   * server holds for one consumer is one chunk and the socket's buffers, never a growing queue.
   */
  readonly stallMs: number;
  /** Closes the connection at once (the stream cannot: Bun waits for its queue to drain). */
  readonly disconnect: () => void;
  /** Events per chunk written (default 500). */
  readonly chunkEvents?: number;
}

const encoder = new TextEncoder();

/**
 * One envelope's SSE frame, as bytes, kept while the envelope is: the store hands every consumer the
 * same envelope objects of the events it committed last, so many live consumers encode each event once
 * and a chunk is a copy of bytes.
 */
const frames = new WeakMap<EventEnvelope, Uint8Array>();
const frameOf = (event: EventEnvelope): Uint8Array => {
  let frame = frames.get(event);
  if (frame === undefined) {
    frame = encoder.encode(`id: ${event.position}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    frames.set(event, frame);
  }
  return frame;
};

const concat = (parts: readonly Uint8Array[]): Uint8Array => {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

/**
 * The chunks made last from one feed, by what they hold: consumers at the same place with the same
 * filter (live ones, woken together) are sent the same bytes, made once. A few: a chunk may hold 500
 * events. Kept per feed, since positions name events only within one store (a process may serve two).
 */
const chunksByFeed = new WeakMap<EventFeed, Map<string, Uint8Array>>();
const chunkOf = (
  feed: EventFeed,
  events: readonly EventEnvelope[],
  filterKey: string,
  generation: number,
): Uint8Array => {
  // Read before an erasure the feed has dropped since: sent to this consumer, kept for none.
  if (generation !== feed.generation) return concat(events.map(frameOf));
  let chunks = chunksByFeed.get(feed);
  if (chunks === undefined) {
    chunks = new Map();
    chunksByFeed.set(feed, chunks);
  }
  const key = `${feed.generation} ${filterKey} ${events[0]?.position} ${events.at(-1)?.position} ${events.length}`;
  let chunk = chunks.get(key);
  if (chunk === undefined) {
    chunk = concat(events.map(frameOf));
    chunks.set(key, chunk);
    if (chunks.size > 16) chunks.delete(chunks.keys().next().value as string);
  }
  return chunk;
};

/** An EventSource waits this long before it reconnects (its default is 3 s or more). */
const RETRY = encoder.encode("retry: 1000\n\n");
const HEARTBEAT = encoder.encode(": keep-alive\n\n");

/**
 * The Server-Sent Events body of `GET /v1/events/stream`: every event after `after` that passes the
 * filter, one frame each (`id:` its position, so that a reconnecting `EventSource` resumes with
 * `Last-Event-ID`), then `caught-up` once, then new events as they are stored. Pulled: a chunk is
 * made only when the connection has taken the one before, so a consumer that stops reading costs
 * nothing more until it is cut off.
 */
export const eventStream = (feed: EventFeed, options: EventStreamOptions): ReadableStream<Uint8Array> => {
  const chunkEvents = options.chunkEvents ?? 500;
  const closed = new AbortController();
  const unfollow = feed.follow("streams");
  let cursor = options.after;
  let caughtUp = false;
  let first = true;
  /** The last `id:` sent: what the consumer would resume from. */
  let idSent = options.after;
  const filterKey = JSON.stringify(options.filter);
  let lastWrite = performance.now();
  let pulling = false;
  const watchdog = setInterval(
    () => {
      if (!pulling && performance.now() - lastWrite > options.stallMs) {
        feed.consumers.cutOff += 1;
        stop();
        options.disconnect();
      }
    },
    Math.max(50, options.stallMs / 4),
  );
  const stop = () => {
    clearInterval(watchdog);
    closed.abort();
    unfollow();
  };

  /** The next chunk: events, the caught-up signal, or a heartbeat once one is due. */
  const nextChunk = async (): Promise<Uint8Array | undefined> => {
    while (!closed.signal.aborted && !feed.stopping.aborted) {
      const page = await feed.read(cursor, chunkEvents, options.filter);
      cursor = page.next;
      const parts = page.events.length > 0 ? [chunkOf(feed, page.events, filterKey, page.generation)] : [];
      if (page.caughtUp && !caughtUp) {
        caughtUp = true;
        parts.push(encoder.encode(`event: caught-up\ndata: ${JSON.stringify({ position: cursor })}\n\n`));
      }
      if (parts.length > 0) {
        if (first) parts.unshift(RETRY);
        first = false;
        idSent = page.events.at(-1)?.position ?? idSent;
        return parts.length === 1 ? (parts[0] as Uint8Array) : concat(parts);
      }
      const untilHeartbeat = lastWrite + options.heartbeatMs - performance.now();
      if (untilHeartbeat <= 0) {
        // Past what a filter dropped, the heartbeat carries where the stream is: a consumer that
        // reconnects (its Last-Event-ID) does not scan that stretch again. No data: no event fires.
        if (cursor === idSent) return HEARTBEAT.slice(); // a copy: the stream may keep what it is given
        idSent = cursor;
        return encoder.encode(`id: ${cursor}\n: keep-alive\n\n`);
      }
      // A long scan through events a filter drops goes on, with a turn between pages.
      if (!page.caughtUp) continue;
      await feed.appended(untilHeartbeat, closed.signal);
    }
    return undefined;
  };

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        pulling = true;
        try {
          const chunk = await nextChunk();
          if (chunk === undefined) {
            // The service stops: the stream ends (its consumer reconnects elsewhere). Cancelled or cut
            // off: the stream is done with already.
            const ended = closed.signal.aborted;
            stop();
            if (!ended) controller.close();
            return;
          }
          controller.enqueue(chunk);
          lastWrite = performance.now();
        } catch (error) {
          // A store that cannot be read: the consumer is let go, to resume once it can.
          const ended = closed.signal.aborted;
          stop();
          if (!ended) controller.error(error);
          options.disconnect();
        } finally {
          pulling = false;
        }
      },
      cancel: stop,
    },
    { highWaterMark: 1 },
  );
};
