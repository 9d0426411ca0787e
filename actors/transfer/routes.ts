import { createHash } from "node:crypto";
import { fail } from "../../src/http/problem.ts";
import { defineRoute, type HttpRoute } from "../../src/http/route.ts";
import type { Reply } from "../../src/runtime/command.ts";
import { account } from "../account/index.ts";
import { TransferBody, TransferParams } from "./commands.ts";
import { transfer } from "./index.ts";
import { debitTransfer, rejectionReply, transferProcess } from "./process.ts";
import type { TransferState } from "./state.ts";

const tag = "transfers";

/** `requested` and `debited` are both still `pending` to a client. */
const publicStatus = (state: TransferState) =>
  state.status === "completed" || state.status === "refunded" ? state.status : "pending";

/**
 * Without a client-chosen id, a transfer sent with an Idempotency-Key gets an id derived from the key,
 * so a retry after a crash (before the answer was stored) drives the same transfer, not a second one.
 */
const transferIdFor = (idempotencyKey: string | undefined): string =>
  idempotencyKey
    ? `t_${createHash("sha256").update(idempotencyKey).digest("hex").slice(0, 40)}`
    : Bun.randomUUIDv7();

const startTransfer = defineRoute({
  method: "post",
  path: "/v1/transfers",
  summary: "Move money between two accounts: debits `from` now, credits `to` (or refunds) right after",
  tag,
  role: "writer",
  body: TransferBody,
  command: { storesReply: false },
  responses: {
    202: "{ transferId, status }: follow it at GET /v1/transfers/:id",
    400: "validation_failed",
    404: "not_found (from)",
    409: "insufficient_funds, account_closed, currency_mismatch or transfer_exists",
    422: "idempotency_key_reused",
  },
  handle: async (ctx): Promise<Reply> => {
    const { engine, body, metadata } = ctx;
    const transferId = body.transferId ?? transferIdFor(ctx.idempotency?.key);

    // Refuse what is already known to fail before writing anything; the process re-checks it all.
    const [from, to] = await Promise.all([
      engine.actors.view(account, body.from),
      engine.actors.view(account, body.to),
    ]);
    if (from.state.status === "none") fail(404, "not_found", `no such account: ${body.from}`);
    if (from.state.status === "closed") fail(409, "account_closed", `${body.from} is closed`);
    if (from.state.balance < body.amount) {
      fail(409, "insufficient_funds", `balance ${from.state.balance} is less than ${body.amount}`);
    }
    if (to.state.status !== "none" && to.state.currency !== from.state.currency) {
      fail(
        409,
        "currency_mismatch",
        `${body.from} holds ${from.state.currency}, ${body.to} ${to.state.currency}`,
      );
    }

    const requested = await engine.actors.dispatch(transfer, transferId, {
      command: { type: "RequestTransfer", from: body.from, to: body.to, amount: body.amount },
      metadata,
    });
    if (requested.kind === "refused") fail(409, requested.rejection.code, requested.rejection.detail);

    // Answered once the debit is durable; recording it on the transfer's stream, then the credit, go on
    // in the background (a third durable append the client need not wait for). A refusal is recorded
    // first, so a GET right after the 409 finds the transfer rejected.
    const debit = await debitTransfer(engine, transferId);
    if (debit && !debit.result.ok) await debit.record();
    const { state } = await engine.actors.view(transfer, transferId);
    if (state.status === "rejected") return rejectionReply(state);
    const recorded = debit?.result.ok ? debit.record() : Promise.resolve();
    // Should recording fail, the process finds the transfer still requested and replays the debit's answer.
    void recorded.catch(() => {}).then(() => engine.processes.start(transferProcess, transferId));
    return { status: 202, body: { transferId, status: publicStatus(state) } };
  },
});

const getTransfer = defineRoute({
  method: "get",
  path: "/v1/transfers/:id",
  summary: "A transfer and where it stands",
  tag,
  role: "reader",
  params: TransferParams,
  responses: { 200: "{ transferId, from, to, amount, status, version }", 404: "not_found" },
  handle: async (ctx) => {
    const { state, version } = await ctx.engine.actors.view(transfer, ctx.params.id);
    if (state.status === "none" || state.status === "rejected") fail(404, "not_found", "no such transfer");
    const { from, to, amount } = state;
    return {
      status: 200,
      body: { transferId: ctx.params.id, from, to, amount, status: publicStatus(state), version },
    };
  },
});

export const transferRoutes: HttpRoute[] = [startTransfer, getTransfer];
