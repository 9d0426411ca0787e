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
  /** Drops everything it holds, before a rebuild. */
  reset(): Promise<void>;
  ping(): Promise<void>;
}
