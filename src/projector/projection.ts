import type { EventEnvelope } from "../store/envelope.ts";
import type { EventStore } from "../store/event-store.ts";

export interface ProjectionContext {
  /** Where a projection fetches the events it finds missing (gap filling). */
  readonly store: EventStore;
}

/**
 * A read model fed from the event stream. Contract:
 * - `apply` is idempotent: an event it has already applied changes nothing;
 * - it is gap-aware: given version n of a stream when it holds n-2, it fetches n-1 from the store first;
 * - it applies a batch in order, and throws if any event of it could not be applied (the worker then
 *   applies them one by one to find which).
 */
export interface Projection {
  readonly name: string;
  /** The aggregate types whose events it needs. */
  readonly aggregateTypes: readonly string[];
  apply(events: readonly EventEnvelope[], context: ProjectionContext): Promise<void>;
  /** Holds nothing across restarts: rebuilt from the event store when the projector starts. */
  readonly volatile?: boolean;
  /** Drops everything it holds, before a rebuild in place (one without `generations`). */
  reset(): Promise<void>;
  ping(): Promise<void>;
  /**
   * Blue/green: a rebuild fills a new generation beside the one serving, which keeps serving (and
   * taking live events) until the new one has caught up; then readers switch to it at once.
   */
  readonly generations?: Generations;
  /**
   * False once its store has lost what it held (a Redis restarted empty, flushed): the projector then
   * rebuilds it by itself. Throws when the store does not answer (that is not a loss).
   */
  intact?(): Promise<boolean>;
}

/** The generations of a read model: the one readers are served from, and the one a rebuild fills. */
export interface Generations {
  /** The generation serving now. */
  serving(): Promise<number>;
  /** Makes a new, empty generation beside the serving one: its number, and what fills it. */
  create(): Promise<{ readonly generation: number; readonly fill: Fill }>;
  /** Readers and live events go to `generation` from now on; the one before is dropped. */
  switchTo(generation: number): Promise<void>;
  /** Drops a generation that will not serve (its rebuild failed). */
  drop(generation: number): Promise<void>;
  /** At start, before events are applied: takes what the store kept before it had generations. */
  adopt?(): Promise<void>;
}

/**
 * What fills a generation from the log. It may hold back what `apply` was given (to fold many events
 * into fewer writes) until `flush`, which the rebuild calls before the generation can serve.
 */
export interface Fill {
  apply(events: readonly EventEnvelope[], context: ProjectionContext): Promise<void>;
  flush?(context: ProjectionContext): Promise<void>;
}
