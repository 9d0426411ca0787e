import type { TransferEvent } from "./events.ts";
import type { TransferState } from "./state.ts";

export const evolve = (state: TransferState, event: TransferEvent): TransferState => {
  switch (event.type) {
    case "TransferRequested":
      return { ...state, status: "requested", from: event.from, to: event.to, amount: event.amount };
    case "TransferRejected":
      return {
        ...state,
        status: "rejected",
        reason: { ...(event.kind ? { kind: event.kind } : {}), code: event.code, detail: event.detail },
      };
    case "TransferDebitRecorded":
      return { ...state, status: "debited", currency: event.currency };
    case "TransferCompleted":
      return { ...state, status: "completed" };
    case "TransferRefunded":
      return { ...state, status: "refunded", reason: { code: event.code, detail: event.detail } };
  }
};
