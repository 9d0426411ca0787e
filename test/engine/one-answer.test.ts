import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { callerKey, processKey } from "../../src/runtime/idempotency.ts";
import { StoreUnavailableError } from "../../src/store/event-store.ts";
import { holdingAppendsOf, type InProcessApp, inProcessApp } from "../support/app.ts";
import { eventually } from "../support/http.ts";

const open = async (app: InProcessApp, accountId: string, deposit = 0, currency = "EUR") => {
  expect((await app.request("POST", "/v1/accounts", { accountId, owner: accountId, currency })).status).toBe(
    201,
  );
  if (deposit > 0) {
    expect(
      (await app.request("POST", `/v1/accounts/${accountId}/deposits`, { amount: deposit })).status,
    ).toBe(200);
  }
};

const balance = async (app: InProcessApp, accountId: string) =>
  (await app.request("GET", `/v1/accounts/${accountId}/state`)).body.balance;

const eventTypes = async (app: InProcessApp, streamId: string) =>
  (await app.sqlite.readStream(streamId)).map((e) => e.type);

describe("a transfer is accepted or refused once, under its key", () => {
  const app = inProcessApp();
  afterAll(() => app.close());

  test("a refused transfer is remembered: the same key and body are refused again after a deposit", async () => {
    await open(app, "payee");
    for (const [key, from, transferId] of [
      ["tk-1", "poor-1", { transferId: "t1" }],
      ["tk-2", "poor-2", {}],
    ] as const) {
      await open(app, from, 100);
      const body = { ...transferId, from, to: "payee", amount: 500 };
      const first = await app.request("POST", "/v1/transfers", body, { "Idempotency-Key": key });
      expect([first.status, first.body.code]).toEqual([409, "insufficient_funds"]);
      await app.request("POST", `/v1/accounts/${from}/deposits`, { amount: 1_000 });
      const retried = await app.request("POST", "/v1/transfers", body, { "Idempotency-Key": key });
      expect(retried.status).toBe(409);
      expect(retried.body).toEqual(first.body);
      expect(retried.headers.get("idempotent-replayed")).toBe("true");
      // Nothing moved: the two deposits are all that happened to the account.
      expect(await balance(app, from)).toBe(1_100);
      expect(await eventTypes(app, `account-${from}`)).toEqual([
        "AccountOpened",
        "MoneyDeposited",
        "MoneyDeposited",
      ]);
    }
    expect(await balance(app, "payee")).toBe(0);
  });

  test("the transfer id decides too: another key for a refused transfer gets the same refusal", async () => {
    const again = await app.request(
      "POST",
      "/v1/transfers",
      { transferId: "t1", from: "poor-1", to: "payee", amount: 500 },
      { "Idempotency-Key": "another-key" },
    );
    expect([again.status, again.body.code]).toEqual([409, "insufficient_funds"]);
    expect(await balance(app, "poor-1")).toBe(1_100);
  });

  test("a currency mismatch is refused by the debit's decision, before any money moves, and kept", async () => {
    await open(app, "euros", 100);
    await open(app, "dollars", 0, "USD");
    const body = { transferId: "t-fx", from: "euros", to: "dollars", amount: 10 };
    const first = await app.request("POST", "/v1/transfers", body);
    expect([first.status, first.body.code]).toEqual([409, "currency_mismatch"]);
    expect((await app.request("POST", "/v1/transfers", body)).body).toEqual(first.body);
    expect(await eventTypes(app, "transfer-t-fx")).toEqual(["TransferRequested", "TransferRejected"]);
    expect(await balance(app, "euros")).toBe(100);
    expect((await app.request("GET", "/v1/transfers/t-fx")).status).toBe(404);
  });

  test("an accepted transfer retried with its key gets the first answer, never re-checked against its own debit", async () => {
    await open(app, "spender", 100);
    const body = { from: "spender", to: "payee", amount: 80 };
    const key = { "Idempotency-Key": "pay-80" };
    const first = await app.request("POST", "/v1/transfers", body, key);
    expect(first).toMatchObject({ status: 202, body: { status: "pending" } });
    await eventually(
      () => app.request("GET", `/v1/transfers/${first.body.transferId}`),
      (t) => t.body.status === "completed",
    );
    // 20 left: decided afresh, 80 would now be refused.
    const retried = await app.request("POST", "/v1/transfers", body, key);
    expect([retried.status, retried.body]).toEqual([202, first.body]);
    expect(await balance(app, "spender")).toBe(20);
    const other = await app.request("POST", "/v1/transfers", { ...body, amount: 81 }, key);
    expect([other.status, other.body.code]).toEqual([422, "idempotency_key_reused"]);

    // The same transfer asked for under a new key shows how far it has gone, and that key keeps it.
    const withId = { ...body, transferId: first.body.transferId };
    const later = await app.request("POST", "/v1/transfers", withId, { "Idempotency-Key": "pay-80-again" });
    expect([later.status, later.body]).toEqual([
      202,
      { transferId: first.body.transferId, status: "completed", version: 3 },
    ]);
    const laterAgain = await app.request("POST", "/v1/transfers", withId, {
      "Idempotency-Key": "pay-80-again",
    });
    expect(laterAgain.body).toEqual(later.body);
    expect(await balance(app, "spender")).toBe(20);
  });
});

describe("a transfer debited just before a crash", () => {
  test("retried after the restart with its key and body: 202, and the money moves once", async () => {
    const gate = holdingAppendsOf("TransferDebitRecorded");
    // The first process answers once the debit is durable, then "crashes": its record never lands.
    const before = inProcessApp({ wrap: gate.wrap });
    await open(before, "from", 100);
    await open(before, "to");
    const body = { from: "from", to: "to", amount: 80 };
    const key = { "Idempotency-Key": "k-crash" };
    const first = await before.request("POST", "/v1/transfers", body, key);
    expect(first).toMatchObject({ status: 202, body: { status: "pending" } });
    expect(gate.held).toHaveLength(1);

    // A second process on the same file (as after a restart) gets the retry; 20 is left on `from`.
    const after = inProcessApp({ config: { dataDir: before.config.dataDir } });
    try {
      const retried = await after.request("POST", "/v1/transfers", body, key);
      expect([retried.status, retried.body]).toEqual([202, first.body]);
      const transferId = first.body.transferId as string;
      const done = await eventually(
        () => after.request("GET", `/v1/transfers/${transferId}`),
        (t) => t.body.status === "completed",
      );
      expect(done.body.status).toBe("completed");
      expect([await balance(after, "from"), await balance(after, "to")]).toEqual([20, 80]);
      expect(await eventTypes(after, "account-from")).toEqual([
        "AccountOpened",
        "MoneyDeposited",
        "TransferDebited",
      ]);
    } finally {
      gate.release();
      await before.close({ keepData: true });
      await after.close();
    }
  });
});

describe("a transfer whose debit fails after it was requested", () => {
  test("is answered 503 naming the transfer, and decided by its process: the money moves once", async () => {
    let failing = true;
    const app = inProcessApp({
      wrap: (store) =>
        Object.assign(Object.create(store) as typeof store, {
          append: async (request: Parameters<typeof store.append>[0]) => {
            if (failing && request.events.some((e) => e.type === "TransferDebited")) {
              throw new StoreUnavailableError("the event store cannot write: injected");
            }
            return store.append(request);
          },
        }),
    });
    try {
      await open(app, "src", 100);
      await open(app, "dst");
      const key = { "Idempotency-Key": "undecided" };
      const body = { from: "src", to: "dst", amount: 30 };
      const first = await app.request("POST", "/v1/transfers", body, key);
      expect(first.status).toBe(503);
      const transferId = first.body.transferId as string;
      expect(first.headers.get("location")).toBe(`/v1/transfers/${transferId}`);
      expect(first.body.detail).toContain(transferId);
      failing = false;
      // Its process decides it without the client: the retry finds it accepted, and nothing moved twice.
      await eventually(
        () => app.request("GET", `/v1/transfers/${transferId}`),
        (t) => t.body.status === "completed",
      );
      const retried = await app.request("POST", "/v1/transfers", body, key);
      expect([retried.status, retried.body.transferId]).toEqual([202, transferId]);
      expect([await balance(app, "src"), await balance(app, "dst")]).toEqual([70, 30]);
    } finally {
      await app.close();
    }
  });
});

describe("internal keys are out of callers' reach", () => {
  test("no caller key is ever a process key, whatever the principal and the key", () => {
    const principal = fc.option(
      fc.string().filter((s) => !s.includes(":")),
      { nil: undefined },
    );
    fc.assert(
      fc.property(
        principal,
        fc.string(),
        fc.string(),
        fc.string(),
        fc.string(),
        (who, key, process, id, step) => {
          expect(callerKey(who, key)).not.toBe(processKey(process, id, step));
        },
      ),
    );
  });

  test("an API key named `transfer` plants the keys a transfer's steps use: the transfer still completes", async () => {
    const app = inProcessApp({
      config: {
        apiKeys: [
          { name: "transfer", role: "writer", token: "t-token" },
          { name: "process", role: "writer", token: "p-token" },
        ],
      },
    });
    try {
      const as = (token: string) => ({ Authorization: `Bearer ${token}` });
      for (const token of ["t-token", "p-token"]) {
        for (const [accountId] of [["a"], ["b"]]) {
          await app.request(
            "POST",
            "/v1/accounts",
            { accountId, owner: accountId, currency: "EUR" },
            as(token),
          );
        }
      }
      await app.request("POST", "/v1/accounts/a/deposits", { amount: 100 }, as("t-token"));
      // Every spelling of the transfer's step keys a caller could think of, planted first.
      for (const token of ["t-token", "p-token"]) {
        for (const key of [
          "T1:debit",
          "T1:credit",
          "T1:reverse",
          "transfer:T1:credit",
          "process:transfer:T1:credit",
          ":transfer:T1:credit",
        ]) {
          const planted = await app.request(
            "POST",
            "/v1/accounts/b/deposits",
            { amount: 1 },
            { ...as(token), "Idempotency-Key": key },
          );
          expect(planted.status).toBe(200);
        }
      }
      const started = await app.request(
        "POST",
        "/v1/transfers",
        { transferId: "T1", from: "a", to: "b", amount: 60 },
        as("t-token"),
      );
      expect(started.status).toBe(202);
      const done = await eventually(
        () => app.request("GET", "/v1/transfers/T1", undefined, as("t-token")),
        (t) => t.body.status !== "pending",
      );
      expect(done.body.status).toBe("completed");
      const read = async (id: string) =>
        (await app.request("GET", `/v1/accounts/${id}/state`, undefined, as("t-token"))).body.balance;
      expect([await read("a"), await read("b")]).toEqual([40, 72]);
    } finally {
      await app.close();
    }
  });
});
