import { type Aggregate, type Message, snapshotShape } from "../aggregate.ts";
import type { EventEnvelope } from "../store/envelope.ts";
import type { EventStore } from "../store/event-store.ts";
import type { SnapshotStore } from "../store/snapshot-store.ts";

/** The domain event an envelope carries: its type and its data, as `evolve` takes it. */
export const domainEvent = <E extends Message>(envelope: EventEnvelope): E =>
  ({ type: envelope.type, ...(envelope.data as object) }) as E;

/** The state after `envelopes`, folded in order onto `state`. */
export const fold = <S, C extends Message, E extends Message>(
  aggregate: Aggregate<S, C, E>,
  state: S,
  envelopes: readonly EventEnvelope[],
): S => envelopes.reduce((folded, envelope) => aggregate.evolve(folded, domainEvent<E>(envelope)), state);

/**
 * An aggregate's last durable state, read from the store: its newest snapshot of the current shape, and
 * the events after it folded on. `version` is 0 for an aggregate with no events.
 */
export const loadLatest = async <S, C extends Message, E extends Message>(
  store: EventStore & SnapshotStore,
  aggregate: Aggregate<S, C, E>,
  streamId: string,
): Promise<{ state: S; version: number }> => {
  const snapshot = await store.loadSnapshot(streamId);
  const usable = snapshot !== undefined && snapshot.snapshotVersion === snapshotShape(aggregate);
  const from = usable ? snapshot.version : 0;
  const events = await store.readStream(streamId, { after: from });
  const state = fold(aggregate, usable ? (snapshot.state as S) : aggregate.initialState, events);
  return { state, version: events.at(-1)?.version ?? from };
};
