import { type Decision, reject } from "../../src/aggregate.ts";
import type { TransferCommand } from "./commands.ts";
import type { TransferEvent } from "./events.ts";
import type { TransferState, TransferStatus } from "./state.ts";

/**
 * Each step is accepted only from the status before it, and a step that already happened is a no-op
 * (no events), so the process driver can safely run the same step again after a crash.
 */
export const decide = (state: TransferState, command: TransferCommand): Decision<TransferEvent> => {
  switch (command.type) {
    case "RequestTransfer": {
      const { from, to, amount } = command;
      if (state.status === "none") return [{ type: "TransferRequested", from, to, amount }];
      const same = state.from === from && state.to === to && state.amount === amount;
      return same ? [] : reject("conflict", "transfer_exists", "a different transfer has this id");
    }
    case "RecordDebit":
      return step(state, "requested", "debited", [
        { type: "TransferDebitRecorded", currency: command.currency },
      ]);
    case "RejectTransfer":
      return step(state, "requested", "rejected", [
        { type: "TransferRejected", kind: command.kind, code: command.code, detail: command.detail },
      ]);
    case "CompleteTransfer":
      return step(state, "debited", "completed", [{ type: "TransferCompleted" }]);
    case "RecordRefund":
      return step(state, "debited", "refunded", [
        { type: "TransferRefunded", code: command.code, detail: command.detail },
      ]);
  }
};

const step = (
  state: TransferState,
  from: TransferStatus,
  to: TransferStatus,
  events: TransferEvent[],
): Decision<TransferEvent> => {
  if (state.status === from) return events;
  if (state.status === to) return [];
  if (state.status === "none") return reject("not_found", "not_found", "no such transfer");
  return reject("conflict", "invalid_transfer_step", `the transfer is ${state.status}, not ${from}`);
};
