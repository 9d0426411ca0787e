import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Client, client, openAccount } from "./support/http.ts";
import { startTestService, type TestService } from "./support/service.ts";

let service: TestService;
let api: Client;
beforeAll(async () => {
  service = await startTestService();
  api = client(service.url);
});
afterAll(() => service.dispose());

const expectProblem = (
  answer: { status: number; headers: Headers; body: unknown },
  status: number,
  code: string,
) => {
  expect(answer.status).toBe(status);
  expect(answer.headers.get("content-type")).toStartWith("application/problem+json");
  expect(answer.body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String) });
  expect(JSON.stringify(answer.body)).not.toContain("    at ");
};

describe("accounts", () => {
  test("open: 201 with Location, ETag and version 1; the server picks a UUIDv7 when no id is given", async () => {
    const opened = await api.post("/v1/accounts", { accountId: "acc-open", owner: "Ann", currency: "EUR" });
    expect(opened.status).toBe(201);
    expect(opened.body).toEqual({ accountId: "acc-open", version: 1, balance: 0, status: "open" });
    expect(opened.headers.get("location")).toBe("/v1/accounts/acc-open");
    expect(opened.headers.get("etag")).toBe('"1"');

    const generated = await api.post("/v1/accounts", { owner: "Bo", currency: "USD" });
    expect(generated.status).toBe(201);
    expect(String(generated.body.accountId)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    const read = await api.get(`/v1/accounts/${generated.body.accountId}?minVersion=1`);
    expect(read.body).toMatchObject({ owner: "Bo", currency: "USD", balance: 0, status: "open", version: 1 });
  });

  test("opening an id that is already open is 409 account_exists", async () => {
    await openAccount(api, "acc-twice");
    expectProblem(
      await api.post("/v1/accounts", { accountId: "acc-twice", owner: "X", currency: "EUR" }),
      409,
      "account_exists",
    );
  });

  test("deposits and withdrawals move the balance and the version", async () => {
    await openAccount(api, "acc-move");
    const d = await api.post("/v1/accounts/acc-move/deposits", { amount: 1_000, reference: "salary" });
    expect(d.body).toEqual({ accountId: "acc-move", version: 2, balance: 1_000 });
    expect(d.headers.get("etag")).toBe('"2"');
    const w = await api.post("/v1/accounts/acc-move/withdrawals", { amount: 400 });
    expect(w.body).toEqual({ accountId: "acc-move", version: 3, balance: 600 });
    // The hot read model, waiting for the projection to reach the write (read-your-writes).
    const read = await api.get("/v1/accounts/acc-move?minVersion=3");
    expect(read.body).toMatchObject({ accountId: "acc-move", balance: 600, version: 3, status: "open" });
    expect(Date.parse(String(read.body.updatedAt))).toBeGreaterThan(0);
  });

  test("a withdrawal larger than the balance is 409 insufficient_funds and writes nothing", async () => {
    await openAccount(api, "acc-poor", "EUR", 100);
    expectProblem(
      await api.post("/v1/accounts/acc-poor/withdrawals", { amount: 101 }),
      409,
      "insufficient_funds",
    );
    expect((await api.get("/v1/accounts/acc-poor/state")).body).toMatchObject({ balance: 100, version: 2 });
  });

  test("commands on a missing account are 404 not_found", async () => {
    expectProblem(await api.post("/v1/accounts/nobody/deposits", { amount: 1 }), 404, "not_found");
    expectProblem(await api.post("/v1/accounts/nobody/withdrawals", { amount: 1 }), 404, "not_found");
    expectProblem(await api.post("/v1/accounts/nobody/close", {}), 404, "not_found");
    expectProblem(await api.get("/v1/accounts/nobody"), 404, "not_found");
    expectProblem(await api.get("/v1/accounts/nobody/events"), 404, "not_found");
    expectProblem(await api.get("/v1/accounts/nobody/state"), 404, "not_found");
  });

  test("close only at zero balance; after close only reads", async () => {
    await openAccount(api, "acc-close", "EUR", 50);
    expectProblem(await api.post("/v1/accounts/acc-close/close", {}), 409, "balance_not_zero");
    await api.post("/v1/accounts/acc-close/withdrawals", { amount: 50 });
    const closed = await api.post("/v1/accounts/acc-close/close", {});
    expect(closed.status).toBe(200);
    expect(closed.body).toEqual({ accountId: "acc-close", version: 4, status: "closed" });
    expectProblem(await api.post("/v1/accounts/acc-close/deposits", { amount: 1 }), 409, "account_closed");
    expectProblem(await api.post("/v1/accounts/acc-close/withdrawals", { amount: 1 }), 409, "account_closed");
    expectProblem(await api.post("/v1/accounts/acc-close/close", {}), 409, "account_closed");
    expect((await api.get("/v1/accounts/acc-close/state")).body).toMatchObject({
      status: "closed",
      balance: 0,
    });
  });

  test("close needs no body at all", async () => {
    await openAccount(api, "acc-close-empty");
    const closed = await api.raw("/v1/accounts/acc-close-empty/close", { method: "POST" });
    expect(closed.status).toBe(200);
  });

  test("If-Match: the right version runs, another is 412 version_conflict with nothing written", async () => {
    await openAccount(api, "acc-match");
    const ok = await api.post("/v1/accounts/acc-match/deposits", { amount: 5 }, { "If-Match": '"1"' });
    expect(ok.body).toMatchObject({ version: 2, balance: 5 });
    const stale = await api.post("/v1/accounts/acc-match/deposits", { amount: 5 }, { "If-Match": '"1"' });
    expectProblem(stale, 412, "version_conflict");
    expect((await api.get("/v1/accounts/acc-match/state")).body).toMatchObject({ version: 2, balance: 5 });
  });

  test("events are paged in version order; state replays to any version", async () => {
    await openAccount(api, "acc-hist");
    for (const amount of [10, 20, 30, 40]) await api.post("/v1/accounts/acc-hist/deposits", { amount });
    const page1 = await api.get<{ events: { version: number; type: string }[]; next: number | null }>(
      "/v1/accounts/acc-hist/events?after=0&limit=3",
    );
    expect(page1.body.events.map((e) => e.version)).toEqual([1, 2, 3]);
    expect(page1.body.events[0]?.type).toBe("AccountOpened");
    expect(page1.body.next).toBe(3);
    const page2 = await api.get<{ events: { version: number }[]; next: number | null }>(
      "/v1/accounts/acc-hist/events?after=3&limit=3",
    );
    expect(page2.body.events.map((e) => e.version)).toEqual([4, 5]);
    expect(page2.body.next).toBeNull();

    expect((await api.get("/v1/accounts/acc-hist/state?atVersion=3")).body).toMatchObject({
      balance: 30,
      version: 3,
    });
    expect((await api.get("/v1/accounts/acc-hist/state")).body).toMatchObject({ balance: 100, version: 5 });
    expectProblem(await api.get("/v1/accounts/acc-hist/state?atVersion=6"), 404, "not_found");
  });
});

describe("transfers", () => {
  const transferStatus = async (id: string) => {
    for (let i = 0; i < 200; i++) {
      const t = await api.get(`/v1/transfers/${id}`);
      if (t.body.status !== "pending") return t;
      await Bun.sleep(10);
    }
    return api.get(`/v1/transfers/${id}`);
  };

  test("a transfer debits at once and completes", async () => {
    await openAccount(api, "t-from", "EUR", 1_000);
    await openAccount(api, "t-to", "EUR");
    const started = await api.post("/v1/transfers", {
      transferId: "t-1",
      from: "t-from",
      to: "t-to",
      amount: 300,
    });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({
      transferId: "t-1",
      status: expect.stringMatching(/pending|completed/),
    });
    const done = await transferStatus("t-1");
    expect(done.body).toMatchObject({
      transferId: "t-1",
      from: "t-from",
      to: "t-to",
      amount: 300,
      status: "completed",
    });
    expect((await api.get("/v1/accounts/t-from/state")).body.balance).toBe(700);
    expect((await api.get("/v1/accounts/t-to/state")).body.balance).toBe(300);
  });

  test("insufficient funds comes back synchronously and moves nothing", async () => {
    await openAccount(api, "t-poor", "EUR", 10);
    await openAccount(api, "t-rich", "EUR");
    expectProblem(
      await api.post("/v1/transfers", { transferId: "t-2", from: "t-poor", to: "t-rich", amount: 11 }),
      409,
      "insufficient_funds",
    );
    expectProblem(await api.get("/v1/transfers/t-2"), 404, "not_found");
    expect((await api.get("/v1/accounts/t-poor/state")).body.balance).toBe(10);
  });

  test("currencies must match: 409 currency_mismatch", async () => {
    await openAccount(api, "t-eur", "EUR", 100);
    await openAccount(api, "t-usd", "USD");
    expectProblem(
      await api.post("/v1/transfers", { from: "t-eur", to: "t-usd", amount: 1 }),
      409,
      "currency_mismatch",
    );
    expect((await api.get("/v1/accounts/t-eur/state")).body.balance).toBe(100);
  });

  test("from a missing account is 404; from a closed one is 409 account_closed", async () => {
    await openAccount(api, "t-dest", "EUR");
    expectProblem(
      await api.post("/v1/transfers", { from: "t-ghost", to: "t-dest", amount: 1 }),
      404,
      "not_found",
    );
    await openAccount(api, "t-shut");
    await api.post("/v1/accounts/t-shut/close", {});
    expectProblem(
      await api.post("/v1/transfers", { from: "t-shut", to: "t-dest", amount: 1 }),
      409,
      "account_closed",
    );
  });

  test("to a missing or closed account: the debit is refunded", async () => {
    await openAccount(api, "t-src", "EUR", 500);
    const missing = await api.post("/v1/transfers", {
      transferId: "t-3",
      from: "t-src",
      to: "t-nowhere",
      amount: 200,
    });
    expect(missing.status).toBe(202);
    expect((await transferStatus("t-3")).body.status).toBe("refunded");

    await openAccount(api, "t-gone", "EUR");
    await api.post("/v1/accounts/t-gone/close", {});
    await api.post("/v1/transfers", { transferId: "t-4", from: "t-src", to: "t-gone", amount: 100 });
    expect((await transferStatus("t-4")).body.status).toBe("refunded");
    expect((await api.get("/v1/accounts/t-src/state")).body.balance).toBe(500);
    expect((await api.get("/v1/accounts/t-gone/state")).body.balance).toBe(0);
    const types = (
      await api.get<{ events: { type: string }[] }>("/v1/accounts/t-src/events")
    ).body.events.map((e) => e.type);
    expect(types).toEqual([
      "AccountOpened",
      "MoneyDeposited",
      "TransferDebited",
      "TransferDebitReversed",
      "TransferDebited",
      "TransferDebitReversed",
    ]);
  });

  test("the same transferId with other terms is 409 transfer_exists; with the same terms it is not repeated", async () => {
    await openAccount(api, "t-a", "EUR", 100);
    await openAccount(api, "t-b", "EUR");
    await api.post("/v1/transfers", { transferId: "t-5", from: "t-a", to: "t-b", amount: 10 });
    await transferStatus("t-5");
    const same = await api.post("/v1/transfers", { transferId: "t-5", from: "t-a", to: "t-b", amount: 10 });
    expect(same.status).toBe(202);
    expect(same.body).toEqual({ transferId: "t-5", status: "completed", version: 3 });
    expectProblem(
      await api.post("/v1/transfers", { transferId: "t-5", from: "t-a", to: "t-b", amount: 11 }),
      409,
      "transfer_exists",
    );
    expect((await api.get("/v1/accounts/t-a/state")).body.balance).toBe(90);
    expect((await api.get("/v1/accounts/t-b/state")).body.balance).toBe(10);
  });

  test("from and to must differ", async () => {
    expectProblem(
      await api.post("/v1/transfers", { from: "same", to: "same", amount: 1 }),
      400,
      "validation_failed",
    );
  });
});
