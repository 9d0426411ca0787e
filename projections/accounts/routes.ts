import { z } from "zod";
import { account } from "../../actors/account/index.ts";
import { kindBeforeKinds } from "../../actors/account/upcasters.ts";
import { AccountView, accountsTag } from "../../actors/account/views.ts";
import type { HotDocument, HotLookup } from "../../src/hot-lookup/hot-lookup.ts";
import { fail } from "../../src/http/problem.ts";
import { queryInteger } from "../../src/http/query.ts";
import { defineRoute, type HttpRoute } from "../../src/http/route.ts";
import { IdParams } from "../../src/http/values.ts";
import type { DocumentKeys } from "../../src/projector/document-projection.ts";

const ReadQuery = z.strictObject({
  minVersion: queryInteger(1)
    .optional()
    .describe(
      "Wait until the read model holds this version (read-your-writes): up to 5 s, or EVENTFOLD_READ_YOUR_WRITES_MS",
    ),
});

const view = (accountId: string, d: HotDocument): z.infer<typeof AccountView> => ({
  accountId,
  owner: d.owner ?? "",
  currency: d.currency ?? "",
  // A document written before accounts had kinds holds none; its account is one of those.
  kind: d.kind === "savings" ? "savings" : kindBeforeKinds,
  balance: Number(d.balance ?? 0),
  status: d.status === "closed" ? "closed" : "open",
  version: Number(d.version ?? 0),
  updatedAt: d.updatedAt ?? null,
});

const tag = accountsTag;

/** `GET /v1/accounts/:id`, served from the hot lookup; `minVersion` waits for the projection. */
export const accountReadRoutes = (
  hot: HotLookup,
  keys: DocumentKeys,
  readYourWritesMs = 5_000,
): HttpRoute[] => [
  defineRoute({
    method: "get",
    path: "/v1/accounts/:id",
    operationId: "getAccount",
    summary:
      "An account, from the hot lookup; with minVersion, waits up to 5 s for that version (read-your-writes)",
    tag,
    role: "reader",
    params: IdParams,
    query: ReadQuery,
    success: { status: 200, description: "the account", body: AccountView, headers: ["ETag"] },
    problems: { 404: ["not_found"], 504: ["projection_behind"] },
    handle: async (ctx) => {
      // The generation serving: a rebuild fills the next one beside it, and readers switch at once.
      const key = (await keys.current()) + ctx.params.id;
      const { minVersion } = ctx.query;
      if (minVersion === undefined) {
        const document = await hot.get(key);
        if (!document) fail(404, "not_found", "no such account");
        return { status: 200, body: view(ctx.params.id, document) };
      }
      // Waiting is for a version on its way; an account the event store has never heard of is not.
      if (!(await hot.get(key))) {
        const [first] = await ctx.queries.events(account, ctx.params.id, { limit: 1 });
        if (!first) fail(404, "not_found", "no such account");
      }
      const document = await hot.waitForVersion(key, minVersion, readYourWritesMs);
      if (!document) {
        fail(
          504,
          "projection_behind",
          `the read model did not reach version ${minVersion} within ${readYourWritesMs} ms`,
        );
      }
      return { status: 200, body: view(ctx.params.id, document) };
    },
  }),
];
