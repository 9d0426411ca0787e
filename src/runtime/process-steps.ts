import type { Aggregate, Message } from "../aggregate.ts";
import type { DomainApi } from "./api.ts";
import type { CommandMetadata, CommandResult } from "./command.ts";
import { processKey } from "./idempotency.ts";

/**
 * The metadata of a process instance's steps: each carries the correlation and the trace of the
 * request that started the instance (the first event of its stream), and a command id of its own.
 */
export const stepMetadata = async (
  api: DomainApi,
  process: { readonly type: string },
  id: string,
): Promise<CommandMetadata> => {
  const [first] = await api.queries.events(process, id, { limit: 1 });
  const commandId = Bun.randomUUIDv7();
  return {
    commandId,
    correlationId: first?.metadata.correlationId ?? id,
    causationId: first?.eventId ?? commandId,
    ...(first?.metadata.traceparent ? { traceparent: first.metadata.traceparent } : {}),
  };
};

/** Which step of which process instance a command is. */
export interface Step {
  readonly process: { readonly type: string };
  readonly id: string;
  /** Its name within the instance: `debit`, `credit`. */
  readonly name: string;
  readonly metadata: CommandMetadata;
  /** Whether a refusal is kept as the step's answer (default); false: decided again until accepted. */
  readonly keepRefusal?: boolean;
}

/**
 * Sends one step of a process instance to an aggregate, exactly once: its idempotency key names the
 * process, the instance and the step, so the step run again (after a crash, or from a second
 * process) gets its first outcome instead of being applied twice.
 */
export const sendStep = <S, C extends Message, E extends Message>(
  api: DomainApi,
  step: Step,
  aggregate: Aggregate<S, C, E>,
  id: string,
  command: C,
): Promise<CommandResult<S>> => {
  const key = processKey(step.process.type, step.id, step.name);
  return api.commands.send(aggregate, id, {
    command,
    metadata: step.metadata,
    idempotency: { key, fingerprint: key, keepRefusal: step.keepRefusal ?? true },
  });
};
