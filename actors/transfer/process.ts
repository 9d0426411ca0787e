import type { Rejection } from "../../src/aggregate.ts";
import type { DomainApi } from "../../src/runtime/api.ts";
import {
  type CommandMetadata,
  type CommandRequest,
  type CommandResult,
  type Outcome,
  rejected,
} from "../../src/runtime/command.ts";
import type { ProcessManager } from "../../src/runtime/process-runner.ts";
import { sendStep, stepMetadata } from "../../src/runtime/process-steps.ts";
import { account } from "../account/index.ts";
import type { TransferCommand } from "./commands.ts";
import { transfer } from "./index.ts";
import { isFinal, type TransferState } from "./state.ts";

/** Records a step on the transfer's own stream; a refusal here means the state machine was broken. */
const record = async (api: DomainApi, id: string, command: TransferCommand, metadata: CommandMetadata) => {
  const result = await api.commands.send(transfer, id, { command, metadata });
  if (result.kind === "rejected") {
    throw new Error(`transfer ${id}: ${command.type} refused: ${result.rejection.detail}`);
  }
};

/**
 * The debit of the source account: the one decision that accepts or refuses a transfer. It reads the
 * destination too (`dependsOn`), so a transfer between two currencies is refused before any money moves.
 */
const debit = async (api: DomainApi, id: string, state: TransferState, metadata: CommandMetadata) => {
  const { to, amount } = state;
  const step = { process: transfer, id, name: "debit", metadata };
  const result = await sendStep(api, step, account, state.from, {
    type: "DebitForTransfer",
    transferId: id,
    to,
    amount,
  });
  const next: TransferCommand =
    result.kind === "accepted"
      ? { type: "RecordDebit", currency: result.state.currency }
      : { type: "RejectTransfer", ...rejectedAs(result.rejection) };
  return { result, record: () => record(api, id, next, metadata) };
};

/** A debit's refusal as the transfer keeps it (an account refuses with `not_found` or `conflict`). */
const rejectedAs = ({ kind, code, detail }: Rejection) =>
  ({ kind: kind === "not_found" ? "not_found" : "conflict", code, detail }) as const;

/** Why a rejected transfer was refused, as recorded: the one answer, the first time and every time after. */
const rejectionOf = (state: TransferState): Rejection => ({
  kind: state.reason?.kind ?? (state.reason?.code === "not_found" ? "not_found" : "conflict"),
  code: state.reason?.code ?? "conflict",
  detail: state.reason?.detail ?? "the transfer was rejected",
});

/**
 * What a transfer came to: accepted once its debit is durable, or rejected with the debit's refusal.
 * Decided once: a transfer still at `requested` is debited now (a debit that happened before a crash is
 * replayed, never decided again against a balance it lowered itself), and one past it answers with the
 * decision recorded on its stream. An accepted transfer is answered before the debit is recorded on
 * its stream (a durable append the client need not wait for); the process then credits or refunds.
 * A refusal is recorded first, so a read right after it finds the transfer rejected.
 */
export const decideTransfer = async (api: DomainApi, id: string): Promise<Outcome<TransferState>> => {
  const { state, version } = await api.queries.current(transfer, id);
  if (state.status === "none") {
    return rejected({ kind: "not_found", code: "not_found", detail: `no such transfer: ${id}` });
  }
  if (state.status === "rejected") return rejected(rejectionOf(state));
  if (state.status === "requested") {
    const debited = await debit(api, id, state, await stepMetadata(api, transfer, id));
    if (debited.result.kind === "rejected") {
      await debited.record();
      return rejected(rejectionOf((await api.queries.current(transfer, id)).state));
    }
    // Should recording fail, the process finds the transfer still requested and replays the debit.
    void debited
      .record()
      .catch(() => {})
      .then(() => api.processes.start(transferProcess, id));
  } else if (!isFinal(state)) api.processes.start(transferProcess, id);
  return { kind: "accepted", id, version, state };
};

/** A transfer was requested (durably) but its decision failed: its process decides it in the background. */
export class TransferUndecided extends Error {
  override readonly name = "TransferUndecided";
  constructor(
    readonly transferId: string,
    override readonly cause: unknown,
  ) {
    super(`transfer ${transferId} was recorded but not yet decided`);
  }
}

export interface TransferRequest {
  readonly from: string;
  readonly to: string;
  readonly amount: number;
}

/**
 * Starts a transfer, or answers for the one with this id. The request is kept on the transfer's
 * stream with the caller's idempotency key (one atomic append), so the key is taken before any money
 * moves, and the same key (or the same transfer id) always leads to the same decision. An acceptance
 * shows the transfer as the request found it: new (its debit just made), or, sent again without the
 * key, as far as it has gone; under the key it is the same answer for good.
 */
export const requestTransfer = async (
  api: DomainApi,
  id: string,
  { from, to, amount }: TransferRequest,
  request: Omit<CommandRequest<TransferCommand>, "command">,
): Promise<CommandResult<TransferState>> => {
  const requested = await api.commands.send(transfer, id, {
    ...request,
    command: { type: "RequestTransfer", from, to, amount },
  });
  if (requested.kind === "rejected") return requested;
  let decided: Outcome<TransferState>;
  try {
    decided = await decideTransfer(api, requested.id);
  } catch (error) {
    // The request is kept: left alone it would wait for the next start. Its process decides it now,
    // and the caller learns which transfer it was, to follow it or send it again.
    api.processes.start(transferProcess, requested.id);
    throw new TransferUndecided(requested.id, error);
  }
  return decided.kind === "rejected" ? { ...decided, replayed: requested.replayed } : requested;
};

/** Moves the transfer one step on and returns its new state. */
export const advanceTransfer = async (api: DomainApi, id: string): Promise<TransferState> => {
  const { state } = await api.queries.current(transfer, id);
  if (state.status === "none" || isFinal(state)) return state;
  const metadata = await stepMetadata(api, transfer, id);

  if (state.status === "requested") {
    await (await debit(api, id, state, metadata)).record();
  } else {
    const { from, to, amount, currency } = state;
    const step = { process: transfer, id, metadata };
    const credit = await sendStep(api, { ...step, name: "credit" }, account, to, {
      type: "CreditFromTransfer",
      transferId: id,
      from,
      amount,
      currency,
    });
    if (credit.kind === "accepted") {
      await record(api, id, { type: "CompleteTransfer" }, metadata);
    } else {
      // Refused only at the balance limit, which a withdrawal can lift: decided again on each retry.
      const reverse = { ...step, name: "reverse", keepRefusal: false };
      const reversal = await sendStep(api, reverse, account, from, {
        type: "ReverseTransferDebit",
        transferId: id,
        amount,
      });
      if (reversal.kind === "rejected") {
        throw new Error(`transfer ${id}: the refund is held up: ${reversal.rejection.detail}`);
      }
      const { code, detail } = credit.rejection;
      await record(api, id, { type: "RecordRefund", code, detail }, metadata);
    }
  }
  return (await api.queries.current(transfer, id)).state;
};

export const transferProcess: ProcessManager<DomainApi> = {
  aggregate: transfer,
  async run(api, id) {
    let state: TransferState;
    do state = await advanceTransfer(api, id);
    while (state.status !== "none" && !isFinal(state));
  },
};
