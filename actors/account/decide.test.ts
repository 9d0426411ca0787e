import { describe, test } from "bun:test";
import { DeciderSpecification } from "../../src/testing/decider-specification.ts";
import { MAX_BALANCE } from "./decide.ts";
import type { AccountEvent } from "./events.ts";
import { account } from "./index.ts";

const spec = DeciderSpecification.for(account);
const opened: AccountEvent = { type: "AccountOpened", owner: "Ann", currency: "EUR", kind: "current" };
const deposited = (amount: number, balance = amount): AccountEvent => ({
  type: "MoneyDeposited",
  amount,
  balance,
  currency: "EUR",
});
const closed: AccountEvent = { type: "AccountClosed" };
/** An account holding `balance`. */
const holding = (balance: number): AccountEvent[] => (balance > 0 ? [opened, deposited(balance)] : [opened]);

describe("opening", () => {
  test("a new id opens", () =>
    spec
      .given([])
      .when({ type: "OpenAccount", owner: "Ann", currency: "EUR", kind: "current" })
      .thenEvents([opened]));
  test("a savings account says so", () =>
    spec
      .given([])
      .when({ type: "OpenAccount", owner: "Ann", currency: "EUR", kind: "savings" })
      .thenEvents([{ ...opened, kind: "savings" }]));
  test("an id taken, open or closed, is account_exists", () => {
    for (const history of [[opened], [opened, closed]]) {
      spec
        .given(history)
        .when({ type: "OpenAccount", owner: "Bo", currency: "USD", kind: "current" })
        .thenRejected({ kind: "conflict", code: "account_exists" });
    }
  });
});

describe("every command but opening needs an open account", () => {
  const commands = [
    { type: "Deposit", amount: 1 },
    { type: "Withdraw", amount: 1 },
    { type: "CloseAccount" },
    { type: "DebitForTransfer", transferId: "t", to: "b", amount: 1 },
    { type: "CreditFromTransfer", transferId: "t", from: "b", amount: 1, currency: "EUR" },
    { type: "ReverseTransferDebit", transferId: "t", amount: 1 },
  ] as const;
  test("no account: not_found", () => {
    for (const command of commands)
      spec.given([]).when(command).thenRejected({ kind: "not_found", code: "not_found" });
  });
  test("closed: account_closed, but for a transfer's refund, which would otherwise destroy money", () => {
    for (const command of commands.filter((c) => c.type !== "ReverseTransferDebit")) {
      spec.given([opened, closed]).when(command).thenRejected({ code: "account_closed" });
    }
    spec
      .given([opened, closed])
      .when({ type: "ReverseTransferDebit", transferId: "t", amount: 7 })
      .thenEvents([
        { type: "TransferDebitReversed", transferId: "t", amount: 7, balance: 7, currency: "EUR" },
      ]);
  });
});

describe("deposits and withdrawals", () => {
  test("a deposit carries the balance after it, the currency and the reference", () =>
    spec
      .given(holding(10))
      .when({ type: "Deposit", amount: 5, reference: "salary" })
      .thenEvents([
        { type: "MoneyDeposited", amount: 5, balance: 15, currency: "EUR", reference: "salary" },
      ]));
  test("a deposit up to the limit passes; one past it is balance_limit_exceeded", () => {
    spec
      .given(holding(MAX_BALANCE - 5))
      .when({ type: "Deposit", amount: 5 })
      .thenEvents([deposited(5, MAX_BALANCE)]);
    spec
      .given(holding(MAX_BALANCE - 5))
      .when({ type: "Deposit", amount: 6 })
      .thenRejected({ kind: "conflict", code: "balance_limit_exceeded" });
  });
  test("a withdrawal of the whole balance passes; of more is insufficient_funds", () => {
    spec
      .given(holding(10))
      .when({ type: "Withdraw", amount: 10 })
      .thenEvents([{ type: "MoneyWithdrawn", amount: 10, balance: 0, currency: "EUR" }]);
    spec
      .given(holding(10))
      .when({ type: "Withdraw", amount: 11 })
      .thenRejected({ code: "insufficient_funds" });
  });
});

describe("closing", () => {
  test("at zero it closes; with money left it is balance_not_zero", () => {
    spec.given(holding(0)).when({ type: "CloseAccount" }).thenEvents([closed]);
    spec.given(holding(1)).when({ type: "CloseAccount" }).thenRejected({ code: "balance_not_zero" });
  });
});

describe("a transfer's steps", () => {
  test("the debit: the balance it leaves, to whom, in the account's currency", () =>
    spec
      .given(holding(100))
      .and(account, "b", [opened])
      .when({ type: "DebitForTransfer", transferId: "t", to: "b", amount: 40 })
      .thenEvents([
        { type: "TransferDebited", transferId: "t", to: "b", amount: 40, balance: 60, currency: "EUR" },
      ]));
  test("the debit is refused for another currency before it looks at the funds, and for want of funds", () => {
    spec
      .given(holding(100))
      .and(account, "b", [{ ...opened, currency: "USD" }])
      .when({ type: "DebitForTransfer", transferId: "t", to: "b", amount: 400 })
      .thenRejected({ code: "currency_mismatch" });
    spec
      .given(holding(100))
      .when({ type: "DebitForTransfer", transferId: "t", to: "b", amount: 101 })
      .thenRejected({ code: "insufficient_funds" });
  });
  test("to an account that does not exist yet the debit goes (its credit will be refused, and refunded)", () =>
    spec
      .given(holding(100))
      .when({ type: "DebitForTransfer", transferId: "t", to: "nobody", amount: 40 })
      .thenEvents([
        { type: "TransferDebited", transferId: "t", to: "nobody", amount: 40, balance: 60, currency: "EUR" },
      ]));
  test("the credit: refused in another currency or past the limit", () => {
    spec
      .given(holding(5))
      .when({ type: "CreditFromTransfer", transferId: "t", from: "a", amount: 5, currency: "EUR" })
      .thenEvents([
        { type: "TransferCredited", transferId: "t", from: "a", amount: 5, balance: 10, currency: "EUR" },
      ]);
    spec
      .given(holding(5))
      .when({ type: "CreditFromTransfer", transferId: "t", from: "a", amount: 5, currency: "USD" })
      .thenRejected({ code: "currency_mismatch" });
    spec
      .given(holding(MAX_BALANCE))
      .when({ type: "CreditFromTransfer", transferId: "t", from: "a", amount: 1, currency: "EUR" })
      .thenRejected({ code: "balance_limit_exceeded" });
  });
  test("the refund: accepted up to the limit, refused past it (the process tries again later)", () => {
    spec
      .given(holding(MAX_BALANCE - 3))
      .when({ type: "ReverseTransferDebit", transferId: "t", amount: 3 })
      .thenEvents([
        { type: "TransferDebitReversed", transferId: "t", amount: 3, balance: MAX_BALANCE, currency: "EUR" },
      ]);
    spec
      .given(holding(MAX_BALANCE - 3))
      .when({ type: "ReverseTransferDebit", transferId: "t", amount: 4 })
      .thenRejected({ code: "balance_limit_exceeded" });
  });
});
