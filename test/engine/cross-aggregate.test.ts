import { afterAll, describe, expect, test } from "bun:test";
import { account } from "../../actors/account/index.ts";
import type { AppendRequest, AppendResult } from "../../src/store/event-store.ts";
import type { Store } from "../../src/store/store.ts";
import { aroundAppends, inProcessApp } from "../support/app.ts";

/** An account event written straight to the store, as an edge that owns that account would write it. */
const elsewhere = (store: Store, accountId: string, version: number, data: Record<string, unknown>) =>
  store.append({
    streamId: `account-${accountId}`,
    aggregateType: "account",
    expectedVersion: version,
    events: [
      {
        eventId: Bun.randomUUIDv7(),
        type: version === 0 ? "AccountOpened" : "MoneyDeposited",
        schemaVersion: 2,
        data,
        metadata: { commandId: "other-edge", correlationId: "other-edge", causationId: "other-edge" },
      },
    ],
  });

/** An append of a transfer's debit: its event, or its refusal kept under the step's key. */
const isDebit = (request: AppendRequest) =>
  request.events.some((e) => e.type === "TransferDebited") ||
  (request.outcomes ?? []).some((o) => o.key.endsWith(":debit"));

/**
 * A store decorator that, before each append of a debit, runs `interfere` on the store itself, and
 * keeps what each such append came to.
 */
const interfering = (interfere: (store: Store, attempt: number) => Promise<unknown>) => {
  const results: AppendResult[] = [];
  const wrap = (store: Store): Store =>
    aroundAppends(store, async (request, target) => {
      if (!isDebit(request)) return target.append(request);
      await interfere(target, results.length);
      const result = await target.append(request);
      results.push(result);
      return result;
    });
  return { wrap, results };
};

describe("a rule across aggregates: a transfer's debit reads the account it credits", () => {
  const interference = interfering(async (store, attempt) => {
    // Only the first attempt is raced: the account credited is opened, in another currency, by
    // another edge between the debit's read of it (no events) and its append.
    if (attempt === 0) await elsewhere(store, "late", 0, { owner: "l", currency: "USD", kind: "current" });
  });
  const app = inProcessApp({ wrap: interference.wrap });
  afterAll(() => app.close());

  test("the other account moved: the first attempt clashes, the second decides on its new state", async () => {
    await app.request("POST", "/v1/accounts", { accountId: "payer", owner: "p", currency: "EUR" });
    await app.request("POST", "/v1/accounts/payer/deposits", { amount: 500 });

    const answer = await app.request(
      "POST",
      "/v1/transfers",
      { transferId: "t-late", from: "payer", to: "late", amount: 200 },
      { "Idempotency-Key": "k-late" },
    );

    expect(interference.results).toEqual([
      { ok: false, reason: "dependency_conflict", streamId: "account-late", actualVersion: 1 },
      expect.objectContaining({ ok: true }),
    ]);
    // Decided on `late` as it now is (USD): refused before any money moved, not debited and refunded.
    expect(answer).toMatchObject({ status: 409, body: { code: "currency_mismatch" } });
    expect((await app.request("GET", "/v1/accounts/payer/state")).body.balance).toBe(500);
    // One answer per key: the same request again gets it, replayed.
    const again = await app.request(
      "POST",
      "/v1/transfers",
      { transferId: "t-late", from: "payer", to: "late", amount: 200 },
      { "Idempotency-Key": "k-late" },
    );
    expect(again).toMatchObject({ status: 409, body: { code: "currency_mismatch" } });
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
  });
});

describe("the account credited: only its creation is guarded, and what this edge holds of it is checked", () => {
  const interference = interfering(async (store, attempt) => {
    // The payee moves between each debit's read and its append: deposits, not its creation.
    await elsewhere(store, "payee", attempt + 1, { amount: 1, balance: attempt + 1, currency: "EUR" });
  });
  const app = inProcessApp({ wrap: interference.wrap });
  afterAll(() => app.close());

  test("a payee that moves meanwhile does not send the debit back; one this edge saw missing is read as it is now", async () => {
    await app.request("POST", "/v1/accounts", { accountId: "giver", owner: "g", currency: "EUR" });
    await app.request("POST", "/v1/accounts/giver/deposits", { amount: 100 });
    await app.request("POST", "/v1/accounts", { accountId: "payee", owner: "p", currency: "EUR" });
    // This edge's actor of `stale` holds it as it was: no events. Another edge then opens it in USD.
    expect((await app.engine.api.queries.current(account, "stale")).version).toBe(0);
    await elsewhere(app.sqlite, "stale", 0, { owner: "s", currency: "USD", kind: "current" });

    const paid = await app.request("POST", "/v1/transfers", {
      transferId: "t-payee",
      from: "giver",
      to: "payee",
      amount: 10,
    });
    expect(paid).toMatchObject({ status: 202 });
    const refused = await app.request("POST", "/v1/transfers", {
      transferId: "t-stale",
      from: "giver",
      to: "stale",
      amount: 10,
    });
    expect(refused).toMatchObject({ status: 409, body: { code: "currency_mismatch" } });
    // Each debit went in one append, though the payee moved before it; this edge kept no copy of an
    // account with no events (its actor is let go), so `stale` was read as it is: in USD.
    expect(interference.results.map((r) => r.ok)).toEqual([true, true]);
  });
});
