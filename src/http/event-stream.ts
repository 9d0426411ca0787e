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
 * One envelope's SSE frame text, kept while the envelope is: the store hands every consumer the same
 * envelope objects of the events it committed last, so many live consumers serialize each event once.
 */
const frames = new WeakMap<EventEnvelope, string>();
const frameOf = (event: EventEnvelope): string => {
  let frame = frames.get(event);
  if (frame === undefined) {
    frame = `id: ${event.position}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    frames.set(event, frame);
  }
  return frame;
};

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
  // An EventSource waits this long before it reconnects (its default is 3 s or more).
  let prelude = "retry: 1000\n\n";
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
  const nextChunk = async (): Promise<string | undefined> => {
    while (!closed.signal.aborted && !feed.stopping.aborted) {
      const page = await feed.read(cursor, chunkEvents, options.filter);
      cursor = page.next;
      let text = "";
      for (const event of page.events) text += frameOf(event);
      if (page.caughtUp && !caughtUp) {
        caughtUp = true;
        text += `event: caught-up\ndata: ${JSON.stringify({ position: cursor })}\n\n`;
      }
      if (text !== "") {
        text = prelude + text;
        prelude = "";
        return text;
      }
      if (!page.caughtUp) continue;
      const untilHeartbeat = lastWrite + options.heartbeatMs - performance.now();
      if (untilHeartbeat <= 0) return ": keep-alive\n\n";
      await feed.appended(untilHeartbeat, closed.signal);
    }
    return undefined;
  };

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        pulling = true;
        try {
          const text = await nextChunk();
          if (text === undefined) {
            // Cancelled, or the service stops: the stream ends (its consumer reconnects elsewhere).
            stop();
            controller.close();
            return;
          }
          controller.enqueue(encoder.encode(text));
          lastWrite = performance.now();
        } catch (error) {
          stop();
          controller.error(error);
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
