import type { z } from "zod";
import { defineResource } from "../../src/http/resource.ts";
import type { HttpRoute } from "../../src/http/route.ts";
import type { Accepted } from "../../src/runtime/command.ts";
import { MoneyMovementBody, OpenAccountBody } from "./commands.ts";
import { account } from "./index.ts";
import type { AccountState } from "./state.ts";
import { AccountBalance, AccountView, accountsTag, ClosedAccount, OpenedAccount } from "./views.ts";

/** The read model of API.md, as the write side knows it. */
export const accountView = (
  accountId: string,
  state: AccountState,
  version: number,
  updatedAt?: string,
): z.infer<typeof AccountView> => ({
  accountId,
  owner: state.owner,
  currency: state.currency,
  kind: state.kind,
  balance: state.balance,
  status: state.status === "closed" ? "closed" : "open",
  version,
  updatedAt: updatedAt ?? null,
});

const accounts = defineResource({
  aggregate: account,
  path: "/v1/accounts",
  name: "account",
  tag: accountsTag,
  view: AccountView,
  toView: accountView,
});

const balance = (o: Accepted<AccountState>) => ({
  accountId: o.id,
  version: o.version,
  balance: o.state.balance,
});
const withReference = (reference: string | undefined) => (reference === undefined ? {} : { reference });

/** `GET /v1/accounts/:id` is served by the hot-lookup projection (projections/accounts). */
export const accountRoutes: HttpRoute[] = [
  accounts.command({
    operationId: "openAccount",
    summary: "Open an account",
    description:
      "Without `accountId` the server makes one (a UUIDv7); a retry with the same `Idempotency-Key` gets the same.",
    body: OpenAccountBody,
    idOf: (body) => body.accountId,
    command: ({ owner, currency, kind }) => ({ type: "OpenAccount", owner, currency, kind }),
    success: { description: "opened", body: OpenedAccount },
    reply: (o) => ({
      accountId: o.id,
      version: o.version,
      balance: o.state.balance,
      status: "open" as const,
    }),
    problems: { 409: ["account_exists"] },
  }),
  accounts.command({
    action: "deposits",
    operationId: "deposit",
    summary: "Deposit money",
    body: MoneyMovementBody,
    command: ({ amount, reference }) => ({ type: "Deposit", amount, ...withReference(reference) }),
    success: { description: "deposited: the new balance", body: AccountBalance },
    reply: balance,
    problems: { 409: ["account_closed", "balance_limit_exceeded"] },
  }),
  accounts.command({
    action: "withdrawals",
    operationId: "withdraw",
    summary: "Withdraw money",
    body: MoneyMovementBody,
    command: ({ amount, reference }) => ({ type: "Withdraw", amount, ...withReference(reference) }),
    success: { description: "withdrawn: the new balance", body: AccountBalance },
    reply: balance,
    problems: { 409: ["account_closed", "insufficient_funds"] },
  }),
  accounts.command({
    action: "close",
    operationId: "closeAccount",
    summary: "Close an account whose balance is 0",
    command: () => ({ type: "CloseAccount" }),
    success: { description: "closed", body: ClosedAccount },
    reply: (o) => ({ accountId: o.id, version: o.version, status: "closed" as const }),
    problems: { 409: ["account_closed", "balance_not_zero"] },
  }),
  ...accounts.storeRoutes(),
];
