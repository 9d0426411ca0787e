import type { AnyAggregate, Upcaster } from "../aggregate.ts";
import { overriding } from "../lib/overriding.ts";
import type { EventEnvelope } from "../store/envelope.ts";
import type { EventStore } from "../store/event-store.ts";

/** Turns a stored envelope into its current shape (the same object when it is current already). */
export type Upcast = (envelope: EventEnvelope) => EventEnvelope;

/**
 * The upcast of a domain: each aggregate's steps, chained from the version an event was stored at to
 * the aggregate's `eventSchemaVersion`. The envelope keeps its stored `schemaVersion`, which says what
 * was stored; its `type` and `data` are the current ones. A step declared at or past the current version
 * could never run: it is refused at start, as a mistake in the chain.
 */
export const upcasterOf = (
  aggregates: readonly Pick<AnyAggregate, "type" | "eventSchemaVersion" | "upcasters">[],
): Upcast => {
  const steps = new Map<string, Upcaster>();
  const current = new Map<string, number>();
  for (const aggregate of aggregates) {
    const version = aggregate.eventSchemaVersion ?? 1;
    current.set(aggregate.type, version);
    for (const step of aggregate.upcasters ?? []) {
      if (!Number.isInteger(step.from) || step.from < 1 || step.from >= version) {
        throw new Error(
          `${aggregate.type}: the upcaster of ${step.type} from version ${step.from} can never run (events are at version ${version})`,
        );
      }
      const key = `${aggregate.type} ${step.type} ${step.from}`;
      if (steps.has(key))
        throw new Error(`${aggregate.type}: two upcasters of ${step.type} from version ${step.from}`);
      steps.set(key, step);
    }
  }
  return (envelope) => {
    const version = current.get(envelope.aggregateType);
    if (version === undefined || envelope.schemaVersion >= version) return envelope;
    let { type } = envelope;
    let data = envelope.data as Readonly<Record<string, unknown>>;
    for (let from = envelope.schemaVersion; from < version; from++) {
      const step = steps.get(`${envelope.aggregateType} ${type} ${from}`);
      if (step) ({ type, data } = step.upcast(data));
    }
    return { ...envelope, type, data };
  };
};

/**
 * The store as every part of the engine reads it: events in their current shape, from every read of
 * events, whoever reads (the actors, the queries, the relay and through it the projections and their
 * rebuilds, the event feed); everything else is the store's own.
 */
export const upcastingStore = <T extends Pick<EventStore, "readStream" | "readAll">>(
  store: T,
  upcast: Upcast,
): T => {
  return overriding(store, {
    readStream: async (...args: Parameters<EventStore["readStream"]>) =>
      (await store.readStream(...args)).map(upcast),
    readAll: async (...args: Parameters<EventStore["readAll"]>) => (await store.readAll(...args)).map(upcast),
  });
};
