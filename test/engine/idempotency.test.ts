import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { processKey } from "../../src/runtime/idempotency.ts";
import { type InProcessApp, inProcessApp } from "../support/app.ts";
import { tempDir } from "../support/config.ts";
import { eventually } from "../support/http.ts";

/** The test's client: the edge in this process, as REST clients see it. */
const clientOf = (app: InProcessApp, always: Record<string, string> = {}) => ({
  post: (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.request("POST", path, body, { ...always, ...headers }),
  get: (path: string) => app.request("GET", path, undefined, always),
});

const openAccount = async (app: InProcessApp, accountId: string, deposit = 0) => {
  await app.request("POST", "/v1/accounts", { accountId, owner: accountId, currency: "EUR" });
  if (deposit > 0) await app.request("POST", `/v1/accounts/${accountId}/deposits`, { amount: deposit });
};

describe("Idempotency-Key", () => {
  const dataDir = tempDir();
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  test("same key, same body: the first answer again and one event, also after a restart", async () => {
    const first = inProcessApp({ config: { dataDir } });
    const api = clientOf(first);
    await openAccount(first, "idem");
    const key = { "Idempotency-Key": "deposit-0001" };
    const a = await api.post("/v1/accounts/idem/deposits", { amount: 250 }, key);
    const b = await api.post("/v1/accounts/idem/deposits", { amount: 250 }, key);
    expect(a.status).toBe(200);
    expect(b.status).toBe(a.status);
    expect(b.body).toEqual(a.body);
    expect(b.headers.get("etag")).toBe(a.headers.get("etag"));
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    expect(await first.sqlite.readStream("account-idem")).toHaveLength(2);

    // A different body under the same key is refused and writes nothing.
    const other = await api.post("/v1/accounts/idem/deposits", { amount: 999 }, key);
    expect(other.status).toBe(422);
    expect(other.body).toMatchObject({ code: "idempotency_key_reused" });
    await first.close({ keepData: true });

    const second = inProcessApp({ config: { dataDir } });
    try {
      const again = await clientOf(second).post("/v1/accounts/idem/deposits", { amount: 250 }, key);
      expect(again.status).toBe(a.status);
      expect(again.body).toEqual(a.body);
      expect(await second.sqlite.readStream("account-idem")).toHaveLength(2);
      expect((await clientOf(second).get("/v1/accounts/idem/state")).body).toMatchObject({
        balance: 250,
        version: 2,
      });
    } finally {
      await second.close({ keepData: true });
    }
  });

  test("a refusal is remembered too: the retry gets the same 409 even once it would succeed", async () => {
    const service = inProcessApp();
    try {
      const api = clientOf(service);
      await openAccount(service, "idem-refused", 10);
      const key = { "Idempotency-Key": "withdraw-big" };
      const refused = await api.post("/v1/accounts/idem-refused/withdrawals", { amount: 50 }, key);
      expect(refused.status).toBe(409);
      await api.post("/v1/accounts/idem-refused/deposits", { amount: 100 });
      const retried = await api.post("/v1/accounts/idem-refused/withdrawals", { amount: 50 }, key);
      expect(retried.status).toBe(409);
      expect(retried.body).toEqual(refused.body);
      expect((await api.get("/v1/accounts/idem-refused/state")).body.balance).toBe(110);
    } finally {
      await service.close();
    }
  });

  test("a step applied once and sent again (a process resumed after a crash) gets its first answer, though deciding it again would refuse it", async () => {
    const service = inProcessApp();
    try {
      await openAccount(service, "idem-step", 100);
      const { account } = await import("../../actors/account/index.ts");
      const key = processKey("transfer", "t1", "debit");
      // Straight to the actor, as a step that got past the look-up before the first one was stored.
      const step = () =>
        service.engine.actors.dispatch(account, "idem-step", {
          command: { type: "Withdraw", amount: 80 },
          metadata: { commandId: "c", correlationId: "c", causationId: "c" },
          idempotency: { key, fingerprint: key },
        });
      const first = await step();
      expect(first).toMatchObject({ kind: "accepted", version: 3, replayed: false });
      // 20 left: decided afresh, the same withdrawal is now refused for want of funds.
      const again = await step();
      expect(again).toEqual({ ...first, replayed: true });
      expect((await clientOf(service).get("/v1/accounts/idem-step/state")).body.balance).toBe(20);
    } finally {
      await service.close();
    }
  });

  test("many concurrent requests with one key write once and all get the same answer", async () => {
    const service = inProcessApp();
    try {
      const api = clientOf(service);
      await openAccount(service, "idem-race");
      const answers = await Promise.all(
        Array.from({ length: 50 }, () =>
          api.post("/v1/accounts/idem-race/deposits", { amount: 7 }, { "Idempotency-Key": "race" }),
        ),
      );
      expect(new Set(answers.map((a) => JSON.stringify([a.status, a.body]))).size).toBe(1);
      expect(answers[0]?.body).toMatchObject({ balance: 7, version: 2 });
      expect(await service.sqlite.readStream("account-idem-race")).toHaveLength(2);
    } finally {
      await service.close();
    }
  });

  test("opening without an id: the retry returns the same generated id, not a second account", async () => {
    const service = inProcessApp();
    try {
      const api = clientOf(service);
      const key = { "Idempotency-Key": "open-once" };
      const a = await api.post("/v1/accounts", { owner: "Ann", currency: "EUR" }, key);
      const b = await api.post("/v1/accounts", { owner: "Ann", currency: "EUR" }, key);
      expect(a.status).toBe(201);
      expect(b.body).toEqual(a.body);
      expect(b.headers.get("location")).toBe(`/v1/accounts/${a.body.accountId}`);
      expect(await service.sqlite.headPosition()).toBe(1);
    } finally {
      await service.close();
    }
  });

  test("a transfer retried with its key moves the money once", async () => {
    const service = inProcessApp();
    try {
      const api = clientOf(service);
      await openAccount(service, "idem-from", 100);
      await openAccount(service, "idem-to");
      const key = { "Idempotency-Key": "pay-rent" };
      const body = { from: "idem-from", to: "idem-to", amount: 60 };
      const a = await api.post("/v1/transfers", body, key);
      const b = await api.post("/v1/transfers", body, key);
      expect(a.status).toBe(202);
      expect(b.body).toEqual(a.body);
      await eventually(
        () => api.get(`/v1/transfers/${a.body.transferId}`),
        (t) => t.body.status === "completed",
      );
      expect((await api.get("/v1/accounts/idem-from/state")).body.balance).toBe(40);
      expect((await api.get("/v1/accounts/idem-to/state")).body.balance).toBe(60);
      expect((await api.post("/v1/transfers", { ...body, amount: 61 }, key)).status).toBe(422);
    } finally {
      await service.close();
    }
  });

  test("keys are per caller: two API keys may use the same Idempotency-Key", async () => {
    const service = inProcessApp({
      config: {
        apiKeys: [
          { name: "alice", role: "writer", token: "alice-token" },
          { name: "bob", role: "writer", token: "bob-token" },
        ],
      },
    });
    try {
      const alice = clientOf(service, { Authorization: "Bearer alice-token" });
      const bob = clientOf(service, { Authorization: "Bearer bob-token" });
      await alice.post("/v1/accounts", { accountId: "idem-shared", owner: "a", currency: "EUR" });
      const key = { "Idempotency-Key": "same-key" };
      expect((await alice.post("/v1/accounts/idem-shared/deposits", { amount: 1 }, key)).body.balance).toBe(
        1,
      );
      expect((await bob.post("/v1/accounts/idem-shared/deposits", { amount: 1 }, key)).body.balance).toBe(2);
    } finally {
      await service.close();
    }
  });
});
