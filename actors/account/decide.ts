import { type DecideContext, type Decision, type Rejection, reject } from "../../src/aggregate.ts";
import type { AccountCommand } from "./commands.ts";
import type { AccountEvent } from "./events.ts";
import { type AccountState, initialAccount } from "./state.ts";

const notFound = reject("not_found", "not_found", "no such account");
const closed = reject("conflict", "account_closed", "the account is closed");

/** Refuses any command but opening on an account that is not open. */
const mustBeOpen = (state: AccountState): Rejection | undefined =>
  state.status === "none" ? notFound : state.status === "closed" ? closed : undefined;

const insufficientFunds = (state: AccountState, amount: number): Rejection | undefined =>
  amount > state.balance
    ? reject("conflict", "insufficient_funds", `balance ${state.balance} is less than ${amount}`)
    : undefined;

/**
 * The most a balance may hold: beyond 2^53 - 1 a JSON number (and a JavaScript one) no longer tells
 * neighbouring integers apart, so a deposit of 1 would leave the balance unchanged. Money stays exact
 * by refusing what would go past it.
 */
export const MAX_BALANCE = Number.MAX_SAFE_INTEGER;

const balanceLimit = (state: AccountState, amount: number): Rejection | undefined =>
  state.balance + amount > MAX_BALANCE
    ? reject(
        "conflict",
        "balance_limit_exceeded",
        `the balance ${state.balance} plus ${amount} would pass the limit of ${MAX_BALANCE} minor units`,
      )
    : undefined;

const currencyMismatch = (state: AccountState, currency: string | undefined): Rejection | undefined =>
  currency !== undefined && currency !== state.currency
    ? reject("conflict", "currency_mismatch", `the account holds ${state.currency}, not ${currency}`)
    : undefined;

/**
 * The account's type, and how `decide` names another account (the one a transfer credits): the
 * aggregate itself (index.ts) imports this file, so it cannot be imported here.
 */
export const accountType = { type: "account", initialState: initialAccount } as const;

export const decide = (
  state: AccountState,
  command: AccountCommand,
  context: DecideContext,
): Decision<AccountEvent> => {
  switch (command.type) {
    case "OpenAccount":
      if (state.status !== "none") return reject("conflict", "account_exists", "the account already exists");
      return [
        { type: "AccountOpened", owner: command.owner, currency: command.currency, kind: command.kind },
      ];

    case "Deposit": {
      const refused = mustBeOpen(state) ?? balanceLimit(state, command.amount);
      if (refused) return refused;
      const balance = state.balance + command.amount;
      return [
        {
          type: "MoneyDeposited",
          amount: command.amount,
          balance,
          currency: state.currency,
          ...withReference(command.reference),
        },
      ];
    }

    case "Withdraw": {
      const refused = mustBeOpen(state) ?? insufficientFunds(state, command.amount);
      if (refused) return refused;
      const balance = state.balance - command.amount;
      return [
        {
          type: "MoneyWithdrawn",
          amount: command.amount,
          balance,
          currency: state.currency,
          ...withReference(command.reference),
        },
      ];
    }

    case "CloseAccount": {
      const refused = mustBeOpen(state);
      if (refused) return refused;
      if (state.balance !== 0) {
        return reject("conflict", "balance_not_zero", `the balance is ${state.balance}, not 0`);
      }
      return [{ type: "AccountClosed" }];
    }

    // Money moves only between accounts of one currency: the account credited is read as this debit
    // is decided (`dependsOn`), and the debit is written only if it has not changed since. One that does
    // not exist yet has no currency to differ: its credit is refused later, and the debit refunded.
    case "DebitForTransfer": {
      const credited = context.stateOf(accountType, command.to);
      const refused =
        mustBeOpen(state) ??
        currencyMismatch(state, credited.status === "none" ? undefined : credited.currency) ??
        insufficientFunds(state, command.amount);
      if (refused) return refused;
      const { transferId, to, amount } = command;
      const { currency } = state;
      return [{ type: "TransferDebited", transferId, to, amount, balance: state.balance - amount, currency }];
    }

    case "CreditFromTransfer": {
      const refused =
        mustBeOpen(state) ?? currencyMismatch(state, command.currency) ?? balanceLimit(state, command.amount);
      if (refused) return refused;
      const { transferId, from, amount } = command;
      const { currency } = state;
      return [
        { type: "TransferCredited", transferId, from, amount, balance: state.balance + amount, currency },
      ];
    }

    // A reversal gives back money that left this account, so it is accepted even after closing:
    // refusing it would destroy money. Only the limit can hold it up (deposits since the debit took
    // the balance near it): the transfer process then keeps the money and tries again later.
    case "ReverseTransferDebit": {
      if (state.status === "none") return notFound;
      const refused = balanceLimit(state, command.amount);
      if (refused) return refused;
      const { transferId, amount } = command;
      const { currency } = state;
      return [
        { type: "TransferDebitReversed", transferId, amount, balance: state.balance + amount, currency },
      ];
    }
  }
};

const withReference = (reference: string | undefined) => (reference === undefined ? {} : { reference });
