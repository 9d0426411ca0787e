import { z } from "zod";
import { Envelope } from "../../src/http/envelope.ts";
import { sendCommand } from "../../src/http/outcome.ts";
import { fail } from "../../src/http/problem.ts";
import { queryInteger } from "../../src/http/query.ts";
import { defineRoute, type HttpRoute, type Reply } from "../../src/http/route.ts";
import { AccountParams, CloseAccountBody, MoneyMovementBody, OpenAccountBody } from "./commands.ts";
import { account } from "./index.ts";
import type { AccountState } from "./state.ts";
import { AccountBalance, AccountView, accountsTag, ClosedAccount, OpenedAccount } from "./views.ts";

const tag = accountsTag;

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

const balanceReply = (o: { id: string; state: AccountState; version: number }): Reply => ({
  status: 200,
  body: { accountId: o.id, version: o.version, balance: o.state.balance },
});

const openAccount = defineRoute({
  method: "post",
  path: "/v1/accounts",
  operationId: "openAccount",
  summary: "Open an account",
  description:
    "Without `accountId` the server makes one (a UUIDv7); a retry with the same `Idempotency-Key` gets the same.",
  tag,
  role: "writer",
  body: OpenAccountBody,
  command: true,
  success: { status: 201, description: "opened", body: OpenedAccount, headers: ["Location", "ETag"] },
  problems: { 409: ["account_exists"] },
  handle: (ctx) => {
    const accountId = ctx.body.accountId ?? Bun.randomUUIDv7();
    const { owner, currency, kind } = ctx.body;
    // The id comes from the outcome: a retry replays the first one's, made up or not.
    return sendCommand(ctx, account, accountId, { type: "OpenAccount", owner, currency, kind }, (o) => ({
      status: 201,
      body: { accountId: o.id, version: o.version, balance: o.state.balance, status: o.state.status },
      headers: { Location: `/v1/accounts/${o.id}` },
    }));
  },
});

const deposit = defineRoute({
  method: "post",
  path: "/v1/accounts/:id/deposits",
  operationId: "deposit",
  summary: "Deposit money",
  tag,
  role: "writer",
  params: AccountParams,
  body: MoneyMovementBody,
  command: true,
  success: {
    status: 200,
    description: "deposited: the new balance",
    body: AccountBalance,
    headers: ["ETag"],
  },
  problems: { 404: ["not_found"], 409: ["account_closed", "balance_limit_exceeded"] },
  handle: (ctx) => {
    const { amount, reference } = ctx.body;
    const command = { type: "Deposit", amount, ...(reference ? { reference } : {}) } as const;
    return sendCommand(ctx, account, ctx.params.id, command, balanceReply);
  },
});

const withdraw = defineRoute({
  method: "post",
  path: "/v1/accounts/:id/withdrawals",
  operationId: "withdraw",
  summary: "Withdraw money",
  tag,
  role: "writer",
  params: AccountParams,
  body: MoneyMovementBody,
  command: true,
  success: {
    status: 200,
    description: "withdrawn: the new balance",
    body: AccountBalance,
    headers: ["ETag"],
  },
  problems: { 404: ["not_found"], 409: ["account_closed", "insufficient_funds"] },
  handle: (ctx) => {
    const { amount, reference } = ctx.body;
    const command = { type: "Withdraw", amount, ...(reference ? { reference } : {}) } as const;
    return sendCommand(ctx, account, ctx.params.id, command, balanceReply);
  },
});

const close = defineRoute({
  method: "post",
  path: "/v1/accounts/:id/close",
  operationId: "closeAccount",
  summary: "Close an account whose balance is 0",
  tag,
  role: "writer",
  params: AccountParams,
  body: CloseAccountBody,
  command: true,
  success: { status: 200, description: "closed", body: ClosedAccount, headers: ["ETag"] },
  problems: { 404: ["not_found"], 409: ["account_closed", "balance_not_zero"] },
  handle: (ctx) =>
    sendCommand(ctx, account, ctx.params.id, { type: "CloseAccount" }, (o) => ({
      status: 200,
      body: { accountId: o.id, version: o.version, status: o.state.status },
    })),
});

const EventsQuery = z.strictObject({
  after: queryInteger(0).default(0).describe("The version after which the page starts"),
  limit: queryInteger(1, 1000).default(100).describe("At most this many events"),
});
const EventsPage = z
  .strictObject({
    events: z.array(Envelope),
    next: z.int().min(1).nullable().describe("The `after` of the next page; null when this one is the last"),
  })
  .meta({ id: "EventsPage" });

const getEvents = defineRoute({
  method: "get",
  path: "/v1/accounts/:id/events",
  operationId: "listAccountEvents",
  summary: "An account's events in version order, a page at a time",
  tag,
  role: "reader",
  params: AccountParams,
  query: EventsQuery,
  success: {
    status: 200,
    description: "a page of events: pass `next` as `after` for the next page; null at the end",
    body: EventsPage,
  },
  problems: { 404: ["not_found"] },
  handle: async (ctx) => {
    const { after, limit } = ctx.query;
    const [opened, events] = await Promise.all([
      ctx.queries.events(account, ctx.params.id, { limit: 1 }),
      ctx.queries.events(account, ctx.params.id, { after, limit }),
    ]);
    if (opened.length === 0) fail(404, "not_found", "no such account");
    const last = events.at(-1);
    return { status: 200, body: { events, next: events.length === limit && last ? last.version : null } };
  },
});

const StateQuery = z.strictObject({
  atVersion: queryInteger(1).optional().describe("Right after this event; past the last one: 404"),
});

const getState = defineRoute({
  method: "get",
  path: "/v1/accounts/:id/state",
  operationId: "getAccountState",
  summary: "The account as it was right after event atVersion (default: now), replayed from the store",
  tag,
  role: "reader",
  params: AccountParams,
  query: StateQuery,
  success: { status: 200, description: "the account at that version", body: AccountView, headers: ["ETag"] },
  problems: { 404: ["not_found"] },
  handle: async (ctx) => {
    const { atVersion } = ctx.query;
    const { state, version, updatedAt } = await ctx.queries.asOf(account, ctx.params.id, atVersion);
    if (version === 0) fail(404, "not_found", "no such account");
    if (atVersion !== undefined && version < atVersion) {
      fail(404, "not_found", `the account has ${version} events, fewer than ${atVersion}`);
    }
    return { status: 200, body: accountView(ctx.params.id, state, version, updatedAt) };
  },
});

/** `GET /v1/accounts/:id` is served by the hot-lookup projection (projections/accounts). */
export const accountRoutes: HttpRoute[] = [openAccount, deposit, withdraw, close, getEvents, getState];
