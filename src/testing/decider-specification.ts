import { expect } from "bun:test";
import { type Aggregate, isRejection, type Message, type Rejection } from "../aggregate.ts";

/**
 * Given/when/then for an aggregate's rules, with no store and no engine: the state is the fold of the
 * given events, the command is decided against it, and the decision is checked.
 *
 *   const spec = DeciderSpecification.for(account);
 *   spec.given([opened]).when({ type: "Deposit", amount: 5 }).thenEvents([deposited]);
 *   spec.given([]).when({ type: "Deposit", amount: 5 }).thenRejected({ code: "not_found" });
 */
export const DeciderSpecification = {
  for: <S, C extends Message, E extends Message>(aggregate: Aggregate<S, C, E>) => ({
    given: (events: readonly E[]) => ({
      when: (command: C) => {
        const state = events.reduce(aggregate.evolve, aggregate.initialState);
        const decision = aggregate.decide(state, command);
        return {
          /** The command is accepted with exactly these events (none: accepted, and nothing to do). */
          thenEvents: (expected: readonly E[]) => {
            if (isRejection(decision)) {
              throw new Error(
                `expected events, but ${command.type} was rejected: ${JSON.stringify(decision)}`,
              );
            }
            expect(decision).toEqual(expected as E[]);
          },
          /** The command is refused; the rejection matches `expected` (kind, code, detail, any of them). */
          thenRejected: (expected: Partial<Rejection>) => {
            if (!isRejection(decision)) {
              throw new Error(`expected a rejection, but ${command.type} gave ${JSON.stringify(decision)}`);
            }
            expect(decision).toMatchObject(expected);
          },
        };
      },
    }),
  }),
};
