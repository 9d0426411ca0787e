import { afterAll, describe, expect, test } from "bun:test";
import { type AppendRequest, StoreUnavailableError } from "../../src/store/event-store.ts";
import type { Store } from "../../src/store/store.ts";
import { holdingAppendsOf, inProcessApp } from "../support/app.ts";
import { eventually } from "../support/http.ts";

describe("POST /v1/transfers", () => {
  const gate = holdingAppendsOf("TransferDebitRecorded");
  const app = inProcessApp({ wrap: gate.wrap });
  const call = app.request;
  const balanceOf = async (id: string) => (await call("GET", `/v1/accounts/${id}/state`)).body.balance;

  afterAll(async () => {
    gate.release();
    await app.close();
  });

  test("answers once the debit is durable, without waiting for it to be recorded on the transfer", async () => {
    await call("POST", "/v1/accounts", { accountId: "payer", owner: "p", currency: "EUR" });
    await call("POST", "/v1/accounts/payer/deposits", { amount: 500 });
    await call("POST", "/v1/accounts", { accountId: "payee", owner: "q", currency: "EUR" });

    const answer = await Promise.race([
      call("POST", "/v1/transfers", { transferId: "t-1", from: "payer", to: "payee", amount: 200 }),
      Bun.sleep(3_000).then(() => "no answer while the debit's record is held" as const),
    ]);
    expect(answer).toMatchObject({ status: 202, body: { transferId: "t-1", status: "pending" } });
    // The record is still held, and the money already left the payer, durably.
    expect(gate.held).toHaveLength(1);
    expect(await balanceOf("payer")).toBe(300);
    expect((await call("GET", "/v1/transfers/t-1")).body.status).toBe("pending");

    gate.release();
    const done = await eventually(
      () => call("GET", "/v1/transfers/t-1"),
      (t) => t.body.status === "completed",
      5_000,
    );
    expect(done.body).toMatchObject({ status: "completed", amount: 200 });
    expect([await balanceOf("payer"), await balanceOf("payee")]).toEqual([300, 200]);
  });

  test("two transfers race for one balance: the debit decides, the refused one is recorded before its 409", async () => {
    await call("POST", "/v1/accounts", { accountId: "spender", owner: "s", currency: "EUR" });
    await call("POST", "/v1/accounts/spender/deposits", { amount: 300 });
    // The account's actor takes the two debits in turn: one fits, the other no longer does.
    const answers = await Promise.all(
      ["t-2", "t-3"].map((transferId) =>
        call("POST", "/v1/transfers", { transferId, from: "spender", to: "payee", amount: 200 }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409]);
    const refused = answers.findIndex((a) => a.status === 409);
    expect(answers[refused]?.body.code).toBe("insufficient_funds");
    // A rejected transfer never happened: every route of it says so.
    const rejected = refused === 0 ? "t-2" : "t-3";
    for (const path of ["", "/events", "/state", "/state?atVersion=1"]) {
      expect((await call("GET", `/v1/transfers/${rejected}${path}`)).status).toBe(404);
    }
    const accepted = refused === 0 ? "t-3" : "t-2";
    const { body } = await call("GET", `/v1/transfers/${accepted}/events`);
    expect((body as { events: unknown[] }).events[0]).toMatchObject({
      type: "TransferRequested",
      data: { from: "spender", to: "payee", amount: 200 },
    });
    expect(await balanceOf("spender")).toBe(100);
  });
});

describe("a transfer recorded whose debit the store could not take", () => {
  test("503 with the transfer's id and written: unknown, never 'nothing was written': a new key would start a second one", async () => {
    let down = false;
    const app = inProcessApp({
      wrap: (store: Store) =>
        Object.assign(Object.create(store) as Store, {
          append: async (request: AppendRequest) => {
            if (down && request.events.some((e) => e.type === "TransferDebited")) {
              throw new StoreUnavailableError("the event store cannot write: no primary");
            }
            return store.append(request);
          },
        }),
    });
    try {
      await app.request("POST", "/v1/accounts", { accountId: "payer", owner: "p", currency: "EUR" });
      await app.request("POST", "/v1/accounts/payer/deposits", { amount: 500 });
      await app.request("POST", "/v1/accounts", { accountId: "payee", owner: "q", currency: "EUR" });
      down = true;
      const answer = await app.request(
        "POST",
        "/v1/transfers",
        { from: "payer", to: "payee", amount: 200 },
        { "Idempotency-Key": "rent-12" },
      );
      expect([answer.status, answer.body.code, answer.body.written]).toEqual([503, "unavailable", "unknown"]);
      const transferId = answer.body.transferId as string;
      expect(answer.headers.get("location")).toBe(`/v1/transfers/${transferId}`);
      expect(answer.body.detail).toContain("is recorded");
      expect(answer.body.detail).not.toContain("nothing was written");
      down = false;
      // The same key finds the same transfer, decided by now or on this call.
      const again = await app.request(
        "POST",
        "/v1/transfers",
        { from: "payer", to: "payee", amount: 200 },
        { "Idempotency-Key": "rent-12" },
      );
      expect([again.status, again.body.transferId]).toEqual([202, transferId]);
    } finally {
      await app.close();
    }
  });
});
