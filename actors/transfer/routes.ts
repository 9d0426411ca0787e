import { createHash } from "node:crypto";
import { errorReply } from "../../src/http/errors.ts";
import { toReply } from "../../src/http/outcome.ts";
import { fail, type Problem, ProblemError } from "../../src/http/problem.ts";
import { defineRoute, type HttpRoute } from "../../src/http/route.ts";
import { TransferBody, TransferParams } from "./commands.ts";
import { transfer } from "./index.ts";
import { requestTransfer, TransferUndecided } from "./process.ts";
import type { TransferState } from "./state.ts";

const tag = "transfers";

/** `requested` and `debited` are both still `pending` to a client. */
const publicStatus = (state: TransferState) =>
  state.status === "completed" || state.status === "refunded" ? state.status : "pending";

/**
 * Without a client-chosen id, a transfer sent with an Idempotency-Key gets an id derived from the key,
 * so a retry after a crash (before the answer was given) drives the same transfer, not a second one.
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
  command: true,
  responses: {
    202: "{ transferId, status }: follow it at GET /v1/transfers/:id",
    400: "validation_failed",
    404: "not_found (from)",
    409: "insufficient_funds, account_closed, currency_mismatch or transfer_exists",
    412: "version_conflict (If-Match, on the transfer)",
    422: "idempotency_key_reused",
  },
  handle: async (ctx) => {
    const { from, to, amount } = ctx.body;
    const id = ctx.body.transferId ?? transferIdFor(ctx.idempotency?.key);
    const result = await requestTransfer(ctx, id, { from, to, amount }, ctx).catch((error: unknown) => {
      if (!(error instanceof TransferUndecided)) throw error;
      const reply = errorReply(error.cause, ctx.signal);
      if (reply.status >= 500 && reply.status !== 503) throw error.cause;
      const body = reply.body as Problem;
      const { transferId } = error;
      throw new ProblemError({
        ...reply,
        body: {
          ...body,
          transferId,
          detail: `${body.detail}; the transfer ${transferId} is recorded and will be decided: follow GET /v1/transfers/${transferId}, or send it again with the same Idempotency-Key or transferId`,
        },
        headers: { ...reply.headers, Location: `/v1/transfers/${transferId}` },
      });
    });
    return toReply(result, (accepted) => ({
      status: 202,
      body: { transferId: accepted.id, status: publicStatus(accepted.state) },
    }));
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
    const { state, version } = await ctx.queries.current(transfer, ctx.params.id);
    if (state.status === "none" || state.status === "rejected") fail(404, "not_found", "no such transfer");
    const { from, to, amount } = state;
    return {
      status: 200,
      body: { transferId: ctx.params.id, from, to, amount, status: publicStatus(state), version },
    };
  },
});

export const transferRoutes: HttpRoute[] = [startTransfer, getTransfer];
