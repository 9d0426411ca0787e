import type { EventEnvelope } from "./envelope.ts";

/**
 * The newest events someone has in hand, by position: a ring, so remembering costs no allocation
 * beyond the envelope. Positions it does not hold (older, or not seen here) are for the store to read.
 * The SQLite store keeps the events it committed last (the relay reads each back within milliseconds
 * of its commit, and serving it from memory spares a query and two `JSON.parse`); the event feed keeps
 * the events its consumers read last, so that many consumers at the end of the log share one read.
 */
export class EventRing {
  private readonly ring: (EventEnvelope | undefined)[];

  constructor(capacity: number) {
    this.ring = new Array(capacity);
  }

  /** Forgets every event held: what it holds may read otherwise now (a data subject was erased). */
  clear(): void {
    this.ring.fill(undefined);
  }

  put(event: EventEnvelope): void {
    this.ring[event.position % this.ring.length] = event;
  }

  /**
   * The events from `after + 1` on, as far as they are held without a hole (at most `limit`);
   * undefined if the first is not held. A prefix is still "events after `after`, in order".
   */
  read(after: number, limit: number): EventEnvelope[] | undefined {
    const events: EventEnvelope[] = [];
    for (let position = after + 1; events.length < limit; position++) {
      const event = this.ring[position % this.ring.length];
      if (event?.position !== position) break;
      events.push(event);
    }
    return events.length > 0 ? events : undefined;
  }
}
