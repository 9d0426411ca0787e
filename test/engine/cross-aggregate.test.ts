import { afterAll, describe, expect, test } from "bun:test";
import { account } from "../../actors/account/index.ts";
import { ContentionError } from "../../src/runtime/errors.ts";
import type { AppendRequest, AppendResult } from "../../src/store/event-store.ts";
import type { Store } from "../../src/store/store.ts";
import { inProcessApp } from "../support/app.ts";

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

/**
 * A store decorator that, before each append a debit brings (an append that names other streams),
 * runs `interfere` on the store itself, and keeps what each such append came to.
 */
const interfering = (interfere: (store: Store, attempt: number) => Promise<unknown>) => {
  const results: AppendResult[] = [];
  const wrap = (store: Store): Store =>
    new Proxy(store, {
      get(target, property) {
        if (property === "append") {
          return async (request: AppendRequest) => {
            if (!request.dependsOn) return target.append(request);
            await interfere(target, results.length);
            const result = await target.append(request);
            results.push(result);
            return result;
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
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

describe("a dependency that never holds still", () => {
  const interference = interfering((store, attempt) =>
    elsewhere(store, "busy", attempt + 1, { amount: 1, balance: attempt + 1, currency: "EUR" }),
  );
  const app = inProcessApp({ wrap: interference.wrap, config: { actorMaxAttempts: 4 } });
  afterAll(() => app.close());

  test("the re-runs are bounded: after the last attempt the command fails, and nothing was written", async () => {
    await app.request("POST", "/v1/accounts", { accountId: "source", owner: "s", currency: "EUR" });
    await app.request("POST", "/v1/accounts/source/deposits", { amount: 100 });
    await app.request("POST", "/v1/accounts", { accountId: "busy", owner: "b", currency: "EUR" });

    const sent = app.engine.api.commands.send(account, "source", {
      command: { type: "DebitForTransfer", transferId: "t-busy", to: "busy", amount: 10 },
      metadata: { commandId: "c", correlationId: "c", causationId: "c" },
    });
    const error = await sent.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContentionError);
    expect(interference.results.map((r) => !r.ok && r.reason)).toEqual(Array(4).fill("dependency_conflict"));
    expect((await app.request("GET", "/v1/accounts/source/state")).body).toMatchObject({
      balance: 100,
      version: 2,
    });
  });
});

describe("time is an input", () => {
  const instant = new Date("2027-02-28T23:59:59.250Z");
  const app = inProcessApp({ clock: () => instant });
  afterAll(() => app.close());

  test("each command is stamped by the engine's clock, and its events keep the stamp", async () => {
    await app.request("POST", "/v1/accounts", { accountId: "timed", owner: "t", currency: "EUR" });
    await app.request("POST", "/v1/accounts/timed/deposits", { amount: 5 });
    const { body } = await app.request("GET", "/v1/accounts/timed/events");
    const events = body.events as { metadata: { issuedAt?: string } }[];
    expect(events.map((e) => e.metadata.issuedAt)).toEqual([instant.toISOString(), instant.toISOString()]);
  });
});
