import { z } from "zod";
import type { Engine } from "../engine.ts";
import type { Logger } from "../observability/log.ts";
import { eraseSubject } from "../privacy/erasure.ts";
import { fail } from "./problem.ts";
import { defineRoute, type HttpRoute, type Tag } from "./route.ts";
import { Id } from "./values.ts";

const tag: Tag = {
  name: "subjects",
  description:
    "Data subjects (in the example domain, an account): erasing one destroys the key of its personal data, which then reads `[erased]` everywhere; money, versions and every ledger proof stay as they were",
};

const Erasure = z
  .strictObject({
    subjectId: z.string(),
    erasedAt: z.iso.datetime().describe("When it was erased (the first time, for a subject erased before)"),
    erasedBy: z.string().describe("The name of the API key that erased it (`anonymous` with auth off)"),
  })
  .meta({ id: "Erasure" });

/** `POST /v1/admin/subjects/:subjectId/erase`: crypto-shredding, for the admin role. */
export const erasureRoutes = (engine: Engine, log: Logger): HttpRoute[] => {
  const { personalData } = engine;
  if (!personalData?.sealing) return [];
  return [
    defineRoute({
      method: "post",
      path: "/v1/admin/subjects/:subjectId/erase",
      operationId: "eraseSubject",
      summary: "Erases a data subject: its personal data reads `[erased]` on every read path from now on",
      description:
        "Destroys the subject's data key and records who, when and why (a `SubjectErased` event in the log). Balances, amounts, versions and ledger proofs are unchanged. The same answer again for a subject already erased.",
      tag,
      role: "admin",
      params: z.strictObject({ subjectId: Id.describe("The data subject: an account's id") }),
      body: z.strictObject({
        reason: z.string().min(1).max(200).describe("Why it is erased (kept with the record, in the log)"),
      }),
      problems: { 404: ["not_found"] },
      success: { status: 200, description: "the subject is erased", body: Erasure },
      handle: async (ctx) => {
        const erasedBy = ctx.principal ?? "anonymous";
        const record = await eraseSubject(
          { ...engine, personalData },
          ctx.params.subjectId,
          erasedBy,
          ctx.body.reason,
          ctx.metadata,
        );
        if (!record) fail(404, "not_found", `no data subject ${ctx.params.subjectId} was ever seen`);
        // The subject's id only: what it was is not for the log.
        log.warn({ subjectId: record.subjectId, by: record.erasedBy }, "a data subject was erased");
        return {
          status: 200,
          body: { subjectId: record.subjectId, erasedAt: record.erasedAt, erasedBy: record.erasedBy },
        };
      },
    }),
  ];
};
