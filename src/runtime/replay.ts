import { type Aggregate, type Message, streamIdOf } from "../aggregate.ts";
import type { EventStore } from "../store/event-store.ts";

export interface ReplayedState<S> {
  readonly state: S;
  readonly version: number;
  readonly updatedAt: string | undefined;
}

/** Folds a stream from its first event up to `upTo` (inclusive): the aggregate as it was then. */
export const replayAggregate = async <S, C extends Message, E extends Message>(
  store: EventStore,
  aggregate: Aggregate<S, C, E>,
  id: string,
  upTo?: number,
): Promise<ReplayedState<S>> => {
  let state = aggregate.initialState;
  let version = 0;
  let updatedAt: string | undefined;
  const streamId = streamIdOf(aggregate.type, id);
  const page = 1000;
  for (;;) {
    const events = await store.readStream(streamId, { after: version, upTo, limit: page });
    for (const event of events) {
      state = aggregate.evolve(state, { type: event.type, ...(event.data as object) } as E);
      version = event.version;
      updatedAt = event.time;
    }
    if (events.length < page) return { state, version, updatedAt };
  }
};
