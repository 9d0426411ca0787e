import type { EventEnvelope } from "../store/envelope.ts";

/** One event handed to a projection, and how many times it has been tried. */
export interface Delivery {
  readonly event: EventEnvelope;
  /** 1 on first delivery; +1 for each retry after a failure. */
  readonly attempt: number;
}

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly error: string };

/** Handles a batch in order and says, per delivery, whether it was applied. */
export type BatchHandler = (batch: readonly Delivery[]) => Promise<readonly Verdict[]>;

export interface Subscription {
  /** Stops taking deliveries once the batches in hand are settled (for a rebuild). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** Which events a projection receives. */
export interface ProjectionRoute {
  readonly name: string;
  readonly aggregateTypes: readonly string[];
}

export interface RetryPolicy {
  /** Tries before an event is dead-lettered. */
  readonly maxAttempts: number;
  /** Wait before try `attempt + 1`, after try `attempt` failed. */
  readonly backoffMs: (attempt: number) => number;
}

export interface BrokerOptions {
  /** Queues per projection; events of one aggregate always go to the same one, in order. */
  readonly shards: number;
  readonly batchSize: number;
  /** How long a partial batch waits for more deliveries. */
  readonly batchWaitMs: number;
  readonly retry: RetryPolicy;
}

/**
 * The broker port: at-least-once delivery of stored events to each projection, in order per aggregate,
 * with retries on a growing backoff and then a dead-letter queue that keeps the event and its error
 * (administered through the `DeadLetters` port, which the same adapter provides).
 */
export interface Broker {
  readonly name: string;
  /** Declares what `routes` need; safe to call again. */
  declare(routes: readonly ProjectionRoute[]): Promise<void>;
  /** Resolves once the broker has taken responsibility for every event (publisher confirms). */
  publish(events: readonly EventEnvelope[]): Promise<void>;
  subscribe(projection: string, handler: BatchHandler): Promise<Subscription>;
  /** What waits for a projection, retries included: for metrics and the admin API. */
  queued(projection: string): Promise<number>;
  ping(): Promise<void>;
  /** Also closes the adapter's dead-letter port, which shares its connection. */
  close(): Promise<void>;
}
