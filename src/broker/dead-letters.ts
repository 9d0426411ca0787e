import type { EventEnvelope } from "../store/envelope.ts";

/** An event a projection could not apply within its tries, with its last error. */
export interface DeadLetter {
  readonly event: EventEnvelope;
  readonly error: string;
  readonly attempts: number;
  /** Null where the broker gave up on it without saying when (RabbitMQ's own delivery limit). */
  readonly deadLetteredAt: string | null;
}

/**
 * The dead-letter port, for operators: what each projection gave up on, and putting it back once the
 * cause is fixed. Delivery (`Broker`) never needs it, so the admin API takes this and not the broker.
 */
export interface DeadLetters {
  /** The oldest first, at most `limit` (default 1000); leaves them where they are. */
  list(projection: string, limit?: number): Promise<DeadLetter[]>;
  /** Puts a projection's dead letters back on its queues, as first tries; returns how many. */
  replay(projection: string, onProgress?: (done: number, total: number) => void): Promise<number>;
  /** Puts one dead-lettered event back on its queue, as a first try; false if it is not there. */
  replayOne(projection: string, eventId: string): Promise<boolean>;
  /** Drops one dead-lettered event for good; false if it is not there. */
  discard(projection: string, eventId: string): Promise<boolean>;
  count(projection: string): Promise<number>;
}
