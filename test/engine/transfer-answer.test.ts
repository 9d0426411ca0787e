import { afterAll, describe, expect, test } from "bun:test";
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
    expect((await call("GET", `/v1/transfers/${refused === 0 ? "t-2" : "t-3"}`)).status).toBe(404);
    expect(await balanceOf("spender")).toBe(100);
  });
});
