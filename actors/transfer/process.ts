import { streamIdOf } from "../../src/aggregate.ts";
import type { Engine } from "../../src/engine.ts";
import { replyFor } from "../../src/http/outcome.ts";
import { type Problem, rejectionProblem } from "../../src/http/problem.ts";
import type { CommandMetadata, Reply } from "../../src/runtime/command.ts";
import type { ProcessManager } from "../../src/runtime/process-runner.ts";
import type { AccountCommand } from "../account/commands.ts";
import { account } from "../account/index.ts";
import type { AccountState } from "../account/state.ts";
import type { TransferCommand } from "./commands.ts";
import { transfer } from "./index.ts";
import { isFinished, type TransferState } from "./state.ts";

type StepResult = { ok: true; currency: string } | { ok: false; code: string; detail: string };

/**
 * One command to one account, exactly once: its idempotency key is derived from the transfer and the
 * step, so running the step again (after a crash, or from a second process) returns the first answer.
 */
const accountStep = async (
  engine: Engine,
  accountId: string,
  command: AccountCommand,
  key: string,
  metadata: CommandMetadata,
): Promise<StepResult> => {
  const accepted = (o: { state: AccountState }): Reply => ({
    status: 200,
    body: { currency: o.state.currency },
  });
  const outcome = await engine.actors.dispatch(account, accountId, {
    command,
    metadata,
    idempotency: { key, fingerprint: key, toReply: (decided) => replyFor(decided, accepted) },
  });
  const reply = replyFor(outcome, accepted);
  if (reply.status === 200) return { ok: true, currency: (reply.body as { currency: string }).currency };
  const body = reply.body as Problem;
  return { ok: false, code: body.code, detail: body.detail };
};

/** Records a step on the transfer's own stream; a refusal here means the state machine was broken. */
const record = async (engine: Engine, id: string, command: TransferCommand, metadata: CommandMetadata) => {
  const outcome = await engine.actors.dispatch(transfer, id, { command, metadata });
  if (outcome.kind === "refused") {
    throw new Error(`transfer ${id}: ${command.type} refused: ${outcome.rejection.detail}`);
  }
};

const stepMetadata = async (engine: Engine, id: string): Promise<CommandMetadata> => {
  const [first] = await engine.store.readStream(streamIdOf(transfer.type, id), { limit: 1 });
  const commandId = Bun.randomUUIDv7();
  return {
    commandId,
    correlationId: first?.metadata.correlationId ?? id,
    causationId: first?.eventId ?? commandId,
    ...(first?.metadata.traceparent ? { traceparent: first.metadata.traceparent } : {}),
  };
};

const stepKey = (id: string, step: string) => `transfer:${id}:${step}`;

/** A requested transfer's debit of its source account, and what it comes to on the transfer's stream. */
export interface Debit {
  readonly result: StepResult;
  /** Records the debit's outcome on the transfer's stream: the step after it. */
  readonly record: () => Promise<void>;
}

/**
 * The debit of a requested transfer, durable when this returns, and not yet recorded on the transfer's
 * stream; undefined when the transfer is no longer at that step. The debit is what a client waits for
 * (its refusal is its answer); recording it can come after, since running the step again after a crash
 * replays the debit's stored answer instead of debiting twice.
 */
export const debitTransfer = async (engine: Engine, id: string): Promise<Debit | undefined> => {
  const { state } = await engine.actors.view(transfer, id);
  if (state.status !== "requested") return undefined;
  return debitStep(engine, id, state, await stepMetadata(engine, id));
};

const debitStep = async (
  engine: Engine,
  id: string,
  state: TransferState,
  metadata: CommandMetadata,
): Promise<Debit> => {
  const result = await accountStep(
    engine,
    state.from,
    { type: "DebitForTransfer", transferId: id, to: state.to, amount: state.amount },
    stepKey(id, "debit"),
    metadata,
  );
  const next: TransferCommand = result.ok
    ? { type: "RecordDebit", currency: result.currency }
    : { type: "RejectTransfer", code: result.code, detail: result.detail };
  return { result, record: () => record(engine, id, next, metadata) };
};

/** Moves the transfer one step on and returns its new state. */
export const advanceTransfer = async (engine: Engine, id: string): Promise<TransferState> => {
  const { state } = await engine.actors.view(transfer, id);
  if (state.status === "none" || isFinished(state)) return state;
  const metadata = await stepMetadata(engine, id);
  const key = (step: string) => stepKey(id, step);

  if (state.status === "requested") {
    await (await debitStep(engine, id, state, metadata)).record();
  } else {
    const credit = await accountStep(
      engine,
      state.to,
      {
        type: "CreditFromTransfer",
        transferId: id,
        from: state.from,
        amount: state.amount,
        currency: state.currency,
      },
      key("credit"),
      metadata,
    );
    if (credit.ok) {
      await record(engine, id, { type: "CompleteTransfer" }, metadata);
    } else {
      const reversal = await accountStep(
        engine,
        state.from,
        { type: "ReverseTransferDebit", transferId: id, amount: state.amount },
        key("reverse"),
        metadata,
      );
      if (!reversal.ok) throw new Error(`transfer ${id}: the reversal was refused: ${reversal.detail}`);
      await record(engine, id, { type: "RecordRefund", code: credit.code, detail: credit.detail }, metadata);
    }
  }
  return (await engine.actors.view(transfer, id)).state;
};

export const transferProcess: ProcessManager<Engine> = {
  aggregate: transfer,
  async run(engine, id) {
    let state: TransferState;
    do state = await advanceTransfer(engine, id);
    while (state.status !== "none" && !isFinished(state));
  },
};

/** How a refused debit is answered to the client that asked for the transfer. */
export const rejectionReply = (state: TransferState): Reply =>
  rejectionProblem({
    kind: state.reason?.code === "not_found" ? "not_found" : "conflict",
    code: state.reason?.code ?? "conflict",
    detail: state.reason?.detail ?? "the transfer was rejected",
  });
