import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { modules } from "../actors/index.ts";
import { createEngine, drainEngine } from "../src/engine.ts";
import { createApp } from "../src/http/app.ts";
import { createLogger } from "../src/observability/log.ts";
import { createMetrics } from "../src/observability/metrics.ts";
import type { AppendRequest, EventStore } from "../src/store/event-store.ts";
import { SqliteEventStore } from "../src/store/sqlite/sqlite-event-store.ts";
import { testConfig } from "./support/service.ts";

/** The store, with every append of `eventType` held until `release`. */
const holdingAppendsOf = (store: EventStore, eventType: string) => {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const held: AppendRequest[] = [];
  const gated = new Proxy(store, {
    get(target, property) {
      if (property === "append") {
        return async (request: AppendRequest) => {
          if (request.events.some((event) => event.type === eventType)) {
            held.push(request);
            await released;
          }
          return target.append(request);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store: gated, held, release };
};

describe("POST /v1/transfers", () => {
  const config = testConfig();
  const sqlite = new SqliteEventStore({ path: join(config.dataDir, "events.sqlite") });
  const gate = holdingAppendsOf(sqlite, "TransferDebitRecorded");
  const engine = createEngine({
    config,
    store: gate.store,
    metrics: createMetrics(),
    log: createLogger("silent"),
    modules,
  });
  const app = createApp(engine);
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await app.request(path, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const balanceOf = async (id: string) => (await call("GET", `/v1/accounts/${id}/state`)).body.balance;

  afterAll(async () => {
    gate.release();
    await drainEngine(engine);
    await sqlite.close();
    rmSync(config.dataDir, { recursive: true, force: true });
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
    const deadline = Date.now() + 5_000;
    while ((await call("GET", "/v1/transfers/t-1")).body.status !== "completed" && Date.now() < deadline)
      await Bun.sleep(10);
    expect((await call("GET", "/v1/transfers/t-1")).body).toMatchObject({ status: "completed", amount: 200 });
    expect([await balanceOf("payer"), await balanceOf("payee")]).toEqual([300, 200]);
  });

  test("a debit refused after the edge's check is recorded before the 409: a GET finds no transfer", async () => {
    await call("POST", "/v1/accounts", { accountId: "spender", owner: "s", currency: "EUR" });
    await call("POST", "/v1/accounts/spender/deposits", { amount: 300 });
    // Both pass the edge's look at the balance (300); the account's actor then takes the debits in turn.
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
