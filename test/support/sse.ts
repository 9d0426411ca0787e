import { EventSource } from "eventsource";
import type { EventEnvelope } from "../../src/store/envelope.ts";

export interface Received {
  readonly id: number;
  readonly type: string;
  readonly envelope: EventEnvelope;
}

/**
 * A consumer of `GET /v1/events/stream` as another service would write one: a real `EventSource`
 * (the `eventsource` package), which reconnects by itself with `Last-Event-ID` after a dropped
 * connection; where it gives up (an answer that is not 200, such as the 503 of a server still
 * starting), this opens a new one that sends the last id it holds.
 */
export class Follower {
  readonly events: Received[] = [];
  /** `caught-up` signals received, one per connection that reached the end of the log. */
  caughtUp = 0;
  /** Connections opened, the first included. */
  connections = 0;
  private source: EventSource | undefined;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string> = {},
  ) {
    this.open();
  }

  get lastId(): number | undefined {
    return this.events.at(-1)?.id;
  }

  /** Drops the connection; `resume` opens a new one that goes on after the last event held. */
  cut(): void {
    this.source?.close();
  }

  resume(): void {
    this.open();
  }

  close(): void {
    this.stopped = true;
    this.source?.close();
  }

  private open(): void {
    const last = this.lastId;
    const source = new EventSource(this.url, {
      fetch: (input, init) =>
        fetch(input, {
          ...init,
          headers: {
            ...init.headers,
            ...this.headers,
            // The package sends its own after a reconnection; a new source starts from what is held.
            ...(last !== undefined && init.headers["Last-Event-ID"] === undefined
              ? { "Last-Event-ID": String(last) }
              : {}),
          },
        }),
    });
    this.connections += 1;
    this.source = source;
    const take = (message: MessageEvent<string>) => {
      this.events.push({
        id: Number(message.lastEventId),
        type: message.type,
        envelope: JSON.parse(message.data) as EventEnvelope,
      });
    };
    // SSE names each event by its `event:` line, and listeners are by name: every message is taken
    // as it is dispatched instead, whatever its type.
    const dispatch = source.dispatchEvent.bind(source);
    source.dispatchEvent = (event: Event) => {
      if (event instanceof MessageEvent && event.type !== "caught-up") take(event as MessageEvent<string>);
      return dispatch(event);
    };
    source.addEventListener("caught-up", () => {
      this.caughtUp += 1;
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED && !this.stopped && this.source === source) {
        setTimeout(() => {
          if (!this.stopped && this.source === source) this.open();
        }, 200);
      }
    };
  }
}
