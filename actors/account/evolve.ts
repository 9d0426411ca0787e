import type { AccountEvent } from "./events.ts";
import type { AccountState } from "./state.ts";

export const evolve = (state: AccountState, event: AccountEvent): AccountState => {
  switch (event.type) {
    case "AccountOpened":
      return { status: "open", owner: event.owner, currency: event.currency, kind: event.kind, balance: 0 };
    case "MoneyDeposited":
    case "MoneyWithdrawn":
    case "TransferDebited":
    case "TransferCredited":
    case "TransferDebitReversed":
      return { ...state, balance: event.balance };
    case "AccountClosed":
      return { ...state, status: "closed" };
  }
};
