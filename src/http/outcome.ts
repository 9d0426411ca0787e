import type { Aggregate, Message } from "../aggregate.ts";
import type { Accepted, CommandOutcome, Reply } from "../runtime/command.ts";
import { problem, rejectionProblem } from "./problem.ts";
import type { RouteContext } from "./route.ts";

/** The HTTP answer to a command outcome; `accepted` shapes the success body. */
export const replyFor = <S>(outcome: CommandOutcome<S>, accepted: (outcome: Accepted<S>) => Reply): Reply => {
  switch (outcome.kind) {
    case "accepted":
      return accepted(outcome);
    case "refused":
      return rejectionProblem(outcome.rejection);
    case "replayed":
      return outcome.sameRequest
        ? { status: outcome.reply.status, body: outcome.reply.body }
        : problem(422, "idempotency_key_reused", "this Idempotency-Key was used with a different request");
  }
};

/**
 * Sends one command to its aggregate's actor and answers it. With an idempotency key, the answer is
 * built before the append and stored in the same atomic write as the events.
 */
export const sendCommand = async <S, C extends Message, E extends Message>(
  context: RouteContext<unknown, unknown, unknown>,
  aggregate: Aggregate<S, C, E>,
  id: string,
  command: C,
  accepted: (outcome: Accepted<S>) => Reply,
): Promise<Reply> => {
  const { engine, expectedVersion, idempotency, metadata } = context;
  const outcome = await engine.actors.dispatch(aggregate, id, {
    command,
    expectedVersion,
    metadata,
    idempotency: idempotency && { ...idempotency, toReply: (decided) => replyFor(decided, accepted) },
  });
  return replyFor(outcome, accepted);
};
