import { afterAll, describe, expect, test } from "bun:test";
import { MAX_BALANCE } from "../../actors/account/decide.ts";
import { account } from "../../actors/account/index.ts";
import { DeciderSpecification } from "../../src/testing/decider-specification.ts";
import { holdingAppendsOf, type InProcessApp, inProcessApp } from "../support/app.ts";
import { eventually } from "../support/http.ts";

const TRILLION = 1_000_000_000_000;

/** Deposits `total` in the largest amounts a command takes, many at a time. */
const fill = async (app: InProcessApp, accountId: string, total: number) => {
  const amounts = [...Array.from({ length: Math.floor(total / TRILLION) }, () => TRILLION), total % TRILLION];
  for (let i = 0; i < amounts.length; i += 250) {
    const answers = await Promise.all(
      amounts
        .slice(i, i + 250)
        .filter((amount) => amount > 0)
        .map((amount) => app.request("POST", `/v1/accounts/${accountId}/deposits`, { amount })),
    );
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
  }
};

describe("balances stay exact: nothing takes one past 2^53 - 1", () => {
  const app = inProcessApp();
  afterAll(() => app.close());
  const deposit = (id: string, amount: number) =>
    app.request("POST", `/v1/accounts/${id}/deposits`, { amount });
  const state = async (id: string) => (await app.request("GET", `/v1/accounts/${id}/state`)).body;

  test("deposits up to the limit are taken, the one past it is refused, and the events agree", async () => {
    await app.request("POST", "/v1/accounts", { accountId: "whale", owner: "w", currency: "EUR" });
    // 9 007 deposits of 10^12 fit under 2^53 - 1 = 9 007 199 254 740 991; the 9 008th does not.
    await fill(app, "whale", 9_007 * TRILLION);
    expect((await state("whale")).balance).toBe(9_007 * TRILLION);

    const past = await deposit("whale", TRILLION);
    expect([past.status, past.body.code]).toEqual([409, "balance_limit_exceeded"]);
    const room = MAX_BALANCE - 9_007 * TRILLION;
    expect((await deposit("whale", room)).body).toMatchObject({ balance: MAX_BALANCE });
    for (const amount of [1, TRILLION]) {
      const refused = await deposit("whale", amount);
      expect([refused.status, refused.body.code]).toEqual([409, "balance_limit_exceeded"]);
    }
    const withdrawn = await app.request("POST", "/v1/accounts/whale/withdrawals", { amount: 1 });
    expect(withdrawn.body).toMatchObject({ balance: MAX_BALANCE - 1 });

    // The events and the balance agree, to the last minor unit.
    const events = await app.sqlite.readStream("account-whale");
    const amounts = events.map((e) => e.data as { amount?: number });
    const sum = amounts.reduce(
      (n, data, i) => n + (events[i]?.type === "MoneyWithdrawn" ? -1n : 1n) * BigInt(data.amount ?? 0),
      0n,
    );
    expect(sum).toBe(BigInt(MAX_BALANCE - 1));
    expect((await state("whale")).balance).toBe(MAX_BALANCE - 1);
    for (const e of events) {
      const balance = (e.data as { balance?: number }).balance;
      if (balance !== undefined) expect(Number.isSafeInteger(balance)).toBe(true);
    }
  }, 60_000);

  test("a transfer that would take the payee past the limit is refunded, whole", async () => {
    await app.request("POST", "/v1/accounts", { accountId: "payer", owner: "p", currency: "EUR" });
    await deposit("payer", 10);
    const started = await app.request("POST", "/v1/transfers", {
      transferId: "to-the-whale",
      from: "payer",
      to: "whale",
      amount: 5,
    });
    expect(started.status).toBe(202);
    const done = await eventually(
      () => app.request("GET", "/v1/transfers/to-the-whale"),
      (t) => t.body.status !== "pending",
    );
    expect(done.body.status).toBe("refunded");
    expect([(await state("payer")).balance, (await state("whale")).balance]).toEqual([10, MAX_BALANCE - 1]);
  });

  test("a refund that would pass the limit waits for room instead of destroying or inventing money", async () => {
    // Deposits land between a transfer's debit and its refund, taking the payer to the limit.
    const gate = holdingAppendsOf("TransferDebitRecorded");
    const gated = inProcessApp({ wrap: gate.wrap });
    try {
      const call = gated.request;
      const balanceOf = async (id: string) => (await call("GET", `/v1/accounts/${id}/state`)).body.balance;
      await call("POST", "/v1/accounts", { accountId: "rich", owner: "r", currency: "EUR" });
      await call("POST", "/v1/accounts", { accountId: "gone", owner: "g", currency: "EUR" });
      await call("POST", "/v1/accounts/gone/close", {});
      await fill(gated, "rich", MAX_BALANCE - 5);
      const started = await call("POST", "/v1/transfers", {
        transferId: "bounce",
        from: "rich",
        to: "gone",
        amount: 5,
      });
      expect(started.status).toBe(202);
      // Debited: MAX - 10; this deposit takes it to the limit itself.
      expect((await call("POST", "/v1/accounts/rich/deposits", { amount: 10 })).status).toBe(200);
      gate.release();
      // The payee is closed, so the money goes back; it cannot while the payer is full.
      const waiting = await eventually(
        async () => (await gated.sqlite.readStream("transfer-bounce")).map((e) => e.type),
        (types) => types.includes("TransferDebitRecorded"),
      );
      expect(waiting).toEqual(["TransferRequested", "TransferDebitRecorded"]);
      expect((await call("GET", "/v1/transfers/bounce")).body.status).toBe("pending");
      expect(await balanceOf("rich")).toBe(MAX_BALANCE);
      // Room made: the retried refund goes through, and no money was made or lost.
      expect((await call("POST", "/v1/accounts/rich/withdrawals", { amount: 5 })).status).toBe(200);
      const done = await eventually(
        () => call("GET", "/v1/transfers/bounce"),
        (t) => t.body.status !== "pending",
      );
      expect(done.body.status).toBe("refunded");
      expect(await balanceOf("rich")).toBe(MAX_BALANCE);
      expect(await balanceOf("gone")).toBe(0);
    } finally {
      gate.release();
      await gated.close();
    }
  });

  test("the account takes a refund up to the limit and refuses one past it", () => {
    const near = DeciderSpecification.for(account).given([
      { type: "AccountOpened", owner: "o", currency: "EUR", kind: "current" },
      { type: "MoneyDeposited", amount: MAX_BALANCE - 3, balance: MAX_BALANCE - 3, currency: "EUR" },
    ]);
    near
      .when({ type: "ReverseTransferDebit", transferId: "t", amount: 5 })
      .thenRejected({ code: "balance_limit_exceeded" });
    near
      .when({ type: "ReverseTransferDebit", transferId: "t", amount: 3 })
      .thenEvents([
        { type: "TransferDebitReversed", transferId: "t", amount: 3, balance: MAX_BALANCE, currency: "EUR" },
      ]);
  });
});
