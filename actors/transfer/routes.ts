import { createHash } from "node:crypto";
import { z } from "zod";
import { errorReply } from "../../src/http/errors.ts";
import { toReply } from "../../src/http/outcome.ts";
import { type Problem, ProblemError } from "../../src/http/problem.ts";
import { defineResource } from "../../src/http/resource.ts";
import { defineRoute, type HttpRoute, type Tag } from "../../src/http/route.ts";
import { Version } from "../../src/http/values.ts";
import { TransferBody } from "./commands.ts";
import { transfer } from "./index.ts";
import { requestTransfer, TransferUndecided } from "./process.ts";
import type { TransferState } from "./state.ts";

const tag: Tag = {
  name: "transfers",
  description: "Money between two accounts: debited at once, credited (or refunded) right after",
};

const TransferVersion = Version.describe("The transfer's stream's last event number");
const TransferStatus = z
  .enum(["pending", "completed", "refunded"])
  .describe("pending until `to` is credited (completed) or the debit is given back (refunded)");
const TransferView = z
  .strictObject({
    transferId: z.string(),
    from: z.string(),
    to: z.string(),
    amount: z.int().min(1).describe("Integer minor units"),
    status: TransferStatus,
    version: TransferVersion,
  })
  .meta({ id: "Transfer" });
const TransferAccepted = TransferView.pick({ transferId: true, status: true, version: true }).meta({
  id: "TransferAccepted",
});

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
  operationId: "startTransfer",
  summary: "Move money between two accounts: debits `from` now, credits `to` (or refunds) right after",
  description:
    "Accepted or refused once, by the debit of `from`. Without `transferId`, one sent with an `Idempotency-Key` gets an id derived from the key. A 429 or 503 whose problem carries `transferId` (and `Location`) means the transfer is recorded and will be decided: follow it, or send it again.",
  tag,
  role: "writer",
  body: TransferBody,
  command: true,
  success: {
    status: 202,
    description: "accepted: follow it at GET /v1/transfers/{id}",
    body: TransferAccepted,
    headers: ["ETag"],
  },
  problems: {
    404: ["not_found"],
    409: ["insufficient_funds", "account_closed", "currency_mismatch", "transfer_exists"],
  },
  handle: async (ctx) => {
    const { from, to, amount } = ctx.body;
    const id = ctx.body.transferId ?? transferIdFor(ctx.idempotency?.key);
    const result = await requestTransfer(ctx, id, { from, to, amount }, ctx).catch((error: unknown) => {
      if (!(error instanceof TransferUndecided)) throw error;
      const reply = errorReply(error.cause, { signal: ctx.signal, keyed: ctx.idempotency !== undefined });
      if (reply.status >= 500 && reply.status !== 503) throw error.cause;
      const { transferId } = error;
      // The transfer is recorded, whatever became of the step that failed: a new key or id would
      // start a second one. The answer says so, and never that nothing was written.
      const { written: _, ...body } = reply.body as Problem & { written?: string };
      throw new ProblemError({
        ...reply,
        body: {
          ...body,
          transferId,
          ...(reply.status === 503 ? { written: "unknown" } : {}),
          detail: `the transfer ${transferId} is recorded and will be decided, though its debit could not be answered now: follow GET /v1/transfers/${transferId}, or send it again with the same Idempotency-Key or transferId, never a new one`,
        },
        headers: { ...reply.headers, Location: `/v1/transfers/${transferId}` },
      });
    });
    return toReply(result, (accepted) => ({
      status: 202,
      body: { transferId: accepted.id, status: publicStatus(accepted.state), version: accepted.version },
    }));
  },
});

/** A transfer as clients see it; a rejected one never happened (404). */
const transfers = defineResource({
  aggregate: transfer,
  path: "/v1/transfers",
  name: "transfer",
  tag,
  view: TransferView,
  toView: (transferId, state, version) => {
    const { from, to, amount } = state;
    return { transferId, from, to, amount, status: publicStatus(state), version };
  },
  hidden: (state) => state.status === "rejected",
});

export const transferRoutes: HttpRoute[] = [
  startTransfer,
  transfers.current("A transfer and where it stands"),
  ...transfers.storeRoutes(),
];
