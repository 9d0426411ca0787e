import type { Aggregate, Message } from "../aggregate.ts";
import type { EventEnvelope } from "../store/envelope.ts";

/** The domain event an envelope carries: its type and its data, as `evolve` takes it. */
export const domainEvent = <E extends Message>(envelope: EventEnvelope): E =>
  ({ type: envelope.type, ...(envelope.data as object) }) as E;

/** The state after `envelopes`, folded in order onto `state`. */
export const fold = <S, C extends Message, E extends Message>(
  aggregate: Aggregate<S, C, E>,
  state: S,
  envelopes: readonly EventEnvelope[],
): S => envelopes.reduce((folded, envelope) => aggregate.evolve(folded, domainEvent<E>(envelope)), state);
