import type { Aggregate, Message } from "../aggregate.ts";
import type { Accepted, CommandResult } from "../runtime/command.ts";
import { rejectionProblem } from "./problem.ts";
import type { Reply, RouteContext } from "./route.ts";

/**
 * The HTTP answer to a command's result: `accepted` shapes the success; a rejection is a problem.
 * A replayed result is marked, so a client can tell its retry changed nothing.
 */
export const toReply = <S>(result: CommandResult<S>, accepted: (outcome: Accepted<S>) => Reply): Reply => {
  const reply = result.kind === "accepted" ? accepted(result) : rejectionProblem(result.rejection);
  return result.replayed ? { ...reply, headers: { ...reply.headers, "Idempotent-Replayed": "true" } } : reply;
};

/** Sends one command to its aggregate's actor, with the request's precondition and key, and answers it. */
export const sendCommand = async <S, C extends Message, E extends Message>(
  context: RouteContext<unknown, unknown, unknown>,
  aggregate: Aggregate<S, C, E>,
  id: string,
  command: C,
  accepted: (outcome: Accepted<S>) => Reply,
): Promise<Reply> => {
  const { commands, expectedVersion, idempotency, metadata } = context;
  const result = await commands.send(aggregate, id, { command, expectedVersion, metadata, idempotency });
  return toReply(result, accepted);
};
