import { expect } from "bun:test";
import {
  type Aggregate,
  type DecideContext,
  isRejection,
  type Message,
  type Rejection,
  streamIdOf,
} from "../aggregate.ts";

/** The instant a specification decides at unless it says `at(…)`: fixed, so every run decides the same. */
export const specificationTime = new Date("2026-01-01T00:00:00.000Z");

interface Given<S, C extends Message, E extends Message> {
  /** Decides at this instant (`DecideContext.now`; default `specificationTime`). */
  at(now: Date): Given<S, C, E>;
  /** Another aggregate a command depends on (`dependsOn`), as the fold of these events. */
  and<S2, C2 extends Message, E2 extends Message>(
    aggregate: Aggregate<S2, C2, E2>,
    id: string,
    events: readonly E2[],
  ): Given<S, C, E>;
  when(command: C): Then<E>;
}

interface Then<E extends Message> {
  /** The command is accepted with exactly these events. */
  thenEvents(expected: readonly E[]): void;
  /** The command is accepted, and there is nothing to do (no events): a repeat of a step already taken. */
  thenNothingHappened(): void;
  /** The command is refused; the rejection matches `expected` (kind, code, detail, any of them). */
  thenRejected(expected: Partial<Rejection>): void;
}

/**
 * Given/when/then for an aggregate's rules, with no store and no engine: the state is the fold of the
 * given events, the command is decided against it at a fixed instant, and the decision is checked.
 *
 *   const spec = DeciderSpecification.for(account);
 *   spec.given([opened]).when({ type: "Deposit", amount: 5 }).thenEvents([deposited]);
 *   spec.given([]).when({ type: "Deposit", amount: 5 }).thenRejected({ code: "not_found" });
 *   spec.given([opened]).at(new Date("2026-03-31T23:59:59Z")).when(…)      // a rule of the calendar
 *   spec.given([opened]).and(account, "b", [openedB]).when(…)             // a rule across aggregates
 */
export const DeciderSpecification = {
  for: <S, C extends Message, E extends Message>(aggregate: Aggregate<S, C, E>) => ({
    given: (events: readonly E[]): Given<S, C, E> => givenOf(aggregate, events, specificationTime, new Map()),
  }),
};

const givenOf = <S, C extends Message, E extends Message>(
  aggregate: Aggregate<S, C, E>,
  events: readonly E[],
  now: Date,
  others: ReadonlyMap<string, unknown>,
): Given<S, C, E> => ({
  at: (instant) => givenOf(aggregate, events, instant, others),
  and: (other, id, otherEvents) =>
    givenOf(
      aggregate,
      events,
      now,
      new Map([
        ...others,
        [streamIdOf(other.type, id), otherEvents.reduce(other.evolve, other.initialState)],
      ]),
    ),
  when: (command) => {
    const context: DecideContext = {
      now,
      stateOf<T>(other: { readonly type: string; readonly initialState: T }, id: string): T {
        const streamId = streamIdOf(other.type, id);
        const named = aggregate
          .dependsOn?.(command)
          .some((d) => streamIdOf(d.aggregate.type, d.id) === streamId);
        if (!named) throw new Error(`${command.type} reads ${streamId}, which its dependsOn does not name`);
        // An aggregate the specification did not give is one with no events yet.
        return others.has(streamId) ? (others.get(streamId) as T) : other.initialState;
      },
    };
    const state = events.reduce(aggregate.evolve, aggregate.initialState);
    const decision = aggregate.decide(state, command, context);
    const accepted = (): readonly E[] => {
      if (isRejection(decision)) {
        throw new Error(`expected events, but ${command.type} was rejected: ${JSON.stringify(decision)}`);
      }
      return decision;
    };
    return {
      thenEvents: (expected) => expect(accepted()).toEqual(expected as E[]),
      thenNothingHappened: () => expect(accepted()).toEqual([]),
      thenRejected: (expected) => {
        if (!isRejection(decision)) {
          throw new Error(`expected a rejection, but ${command.type} gave ${JSON.stringify(decision)}`);
        }
        expect(decision).toMatchObject(expected);
      },
    };
  },
});
