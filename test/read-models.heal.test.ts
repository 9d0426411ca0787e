/**
 * Read models that heal and rebuild live: a Redis that loses everything under load is refilled by
 * itself; a rebuild fills a new generation while the old one serves whole, and readers switch at once.
 */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import Redis from "ioredis";
import { pollUntil } from "../src/lib/poll.ts";
import type { Projection } from "../src/projector/projection.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { type Client, client } from "./support/http.ts";
import { fullStack } from "./support/read-side.ts";
import { describeWith } from "./support/servers.ts";
import { startTestService, type TestService, testConfig } from "./support/service.ts";

/**
 * A gate the rebuilds started once it is armed wait at before they fill their new generation (the
 * one at start, of an empty store, goes through): the test says when they go on.
 */
const gated = (name: string) => {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  let armed = false;
  let reached = false;
  const wrap = (projections: readonly Projection[]) =>
    projections.map((p) => {
      const { generations } = p;
      if (p.name !== name || !generations) return p;
      return {
        ...p,
        generations: {
          ...generations,
          create: async () => {
            const made = await generations.create();
            if (!armed) return made;
            return {
              ...made,
              fill: {
                ...made.fill,
                apply: async (...args: Parameters<Projection["apply"]>) => {
                  reached = true;
                  await opened;
                  await made.fill.apply(...args);
                },
              },
            };
          },
        },
      };
    });
  return {
    wrap,
    arm: () => {
      armed = true;
    },
    open: () => open(),
    reached: () => reached,
  };
};

interface ProjectionInfo {
  name: string;
  state: string;
  generation?: number;
  rebuild?: { reason: string; generation?: number; done: number; total: number; finishedAt?: string };
}
const projectionOf = async (api: Client, name: string) =>
  (await api.get<{ projections: ProjectionInfo[] }>("/v1/admin/projections")).body.projections.find(
    (p) => p.name === name,
  );

/** Each account as the event store has it now: its balance and version. */
const truthOf = async (api: Client, ids: readonly string[]) =>
  Promise.all(
    ids.map(async (id) => {
      const state = (await api.get<{ balance: number; version: number }>(`/v1/accounts/${id}/state`)).body;
      return { id, balance: state.balance, version: state.version };
    }),
  );

const openAccounts = async (api: Client, prefix: string, count: number) => {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  await Promise.all(
    ids.map(async (id) => {
      await api.post("/v1/accounts", { accountId: id, owner: id, currency: "EUR" });
      await api.post(`/v1/accounts/${id}/deposits`, { amount: 1_000 });
    }),
  );
  return ids;
};

/** Resolves once every account reads from the hot lookup as the store has it; fails after `timeoutMs`. */
const readableAgain = async (api: Client, ids: readonly string[], timeoutMs: number) =>
  expect(
    await pollUntil(
      () => allReadable(api, ids),
      (ok) => ok,
      { timeoutMs },
    ),
  ).toBe(true);

/** Resolves once the new Redis of a service is filled (at start, from the event store) and serves. */
const filledAtStart = async (api: Client) =>
  expect(
    await pollUntil(
      () => projectionOf(api, "accounts"),
      (p) => p?.state === "running" && (p.generation ?? 0) >= 1,
      { timeoutMs: 10_000 },
    ),
  ).toBeDefined();

/** Whether every account reads from the hot lookup as the store has it. */
const allReadable = async (api: Client, ids: readonly string[]) => {
  const truth = await truthOf(api, ids);
  const read = await Promise.all(
    truth.map(async (t) => (await api.get(`/v1/accounts/${t.id}?minVersion=${t.version}`)).body),
  );
  return read.every((r, i) => r.balance === truth[i]?.balance);
};

describeWith(["Redis"], "the hot lookup in Redis heals by itself", () => {
  const services: TestService[] = [];
  afterAll(async () => {
    for (const service of services) await service.dispose();
  });

  /** A service on Redis, its accounts projection gated, with `count` accounts readable. */
  const servingAccounts = async (prefix: string, count: number) => {
    const gate = gated("accounts");
    const service = await startTestService({ redisUrl: fullStack.redisUrl }, { projections: gate.wrap });
    services.push(service);
    const api = client(service.url);
    const ids = await openAccounts(api, prefix, count);
    await filledAtStart(api);
    await readableAgain(api, ids, 10_000);
    return { gate, service, api, ids };
  };

  test("Redis loses everything under load: every account is readable again with no manual step", async () => {
    const { gate, service, api, ids } = await servingAccounts("heal", 120);

    // Deposits go on while Redis loses every key of this service (as a restart without persistence).
    let writing = true;
    const load = (async () => {
      for (let i = 0; writing; i++) await api.post(`/v1/accounts/${ids[i % 20]}/deposits`, { amount: 1 });
    })();
    const redis = new Redis(fullStack.redisUrl);
    const keys = await redis.keys(`${service.config.redisPrefix}*`);
    expect(keys.length).toBeGreaterThan(ids.length);
    gate.arm();
    await redis.del(...keys);
    redis.disconnect();

    // Found by itself; while it refills, readiness says so (the gate holds the refill here).
    expect(await pollUntil(gate.reached, (r) => r, { timeoutMs: 10_000 })).toBe(true);
    const ready = await api.get<{ checks: Record<string, string> }>("/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body.checks.hotLookup).toStartWith("rebuilding: it lost its data");
    expect((await projectionOf(api, "accounts"))?.rebuild).toMatchObject({ reason: "lost" });
    gate.open();

    await readableAgain(api, ids, 30_000);
    writing = false;
    await load;
    await readableAgain(api, ids, 10_000);
    expect((await api.get("/readyz")).status).toBe(200);
  }, 60_000);

  test("documents kept before generations serve as generation 0 after an upgrade, until a rebuild", async () => {
    const config = testConfig({ redisUrl: fullStack.redisUrl });
    // What the code before wrote: the events, and the account's document under `account:<id>`.
    const store = new SqliteStore({ path: join(config.dataDir, "events.sqlite") });
    await store.append({
      streamId: "account-up-1",
      aggregateType: "account",
      expectedVersion: 0,
      events: [
        {
          eventId: "u1",
          type: "AccountOpened",
          schemaVersion: 1,
          data: { owner: "Up", currency: "EUR" },
          metadata: { commandId: "c", correlationId: "c", causationId: "c" },
        },
      ],
    });
    await store.saveCheckpoint("outbox-relay", "1");
    await store.close();
    const redis = new Redis(fullStack.redisUrl);
    const legacy = `${config.redisPrefix}account:up-1`;
    await redis.hset(legacy, { version: "1", owner: "Up", currency: "EUR", balance: "0", status: "open" });
    const service = await startTestService(config);
    services.push(service);
    const api = client(service.url);
    try {
      // Served as it was, with no rebuild; the pointer says generation 0.
      expect((await api.get("/v1/accounts/up-1")).body).toMatchObject({ owner: "Up", kind: "current" });
      expect(await redis.hget(`${config.redisPrefix}accounts:serving`, "generation")).toBe("0");
      expect((await projectionOf(api, "accounts"))?.rebuild).toBeUndefined();
      // A rebuild moves it to a generation of its own; the documents of before are dropped.
      expect((await api.post("/v1/admin/projections/accounts/rebuild")).status).toBe(202);
      await service.projector?.settled("accounts");
      expect((await projectionOf(api, "accounts"))?.generation).toBe(2);
      expect((await api.get("/v1/accounts/up-1")).body).toMatchObject({ owner: "Up", version: 1 });
      expect(
        await pollUntil(
          () => redis.exists(legacy),
          (n) => n === 0,
          { timeoutMs: 10_000 },
        ),
      ).toBe(0);
    } finally {
      redis.disconnect();
    }
  }, 30_000);

  test("a rebuild of the hot lookup never serves a half-filled store", async () => {
    const { gate, api, ids } = await servingAccounts("blue", 60);
    const before = (await projectionOf(api, "accounts"))?.generation ?? 0;

    gate.arm();
    expect((await api.post("/v1/admin/projections/accounts/rebuild")).status).toBe(202);
    expect(await pollUntil(gate.reached, (r) => r, { timeoutMs: 10_000 })).toBe(true);
    // Held half-way: the generation serving is whole, and takes new events.
    expect(await projectionOf(api, "accounts")).toMatchObject({
      state: "rebuilding",
      generation: before,
      rebuild: { reason: "requested", generation: before + 1 },
    });
    await api.post(`/v1/accounts/${ids[0]}/deposits`, { amount: 7 });
    expect(await allReadable(api, ids)).toBe(true);
    expect((await api.get("/readyz")).status).toBe(200);
    gate.open();

    expect(
      await pollUntil(
        () => projectionOf(api, "accounts"),
        (p) => p?.state === "running" && p.generation === before + 1,
        { timeoutMs: 10_000 },
      ),
    ).toBeDefined();
    expect(await allReadable(api, ids)).toBe(true);
  }, 60_000);
});

test("analytics answers stay complete through a rebuild: the old totals, then the new ones", async () => {
  const gate = gated("analytics");
  const service = await startTestService({}, { projections: gate.wrap });
  try {
    const api = client(service.url);
    const counts = async () =>
      (
        await api.get<{ counts: Record<string, number> }>(
          "/v1/analytics/event-counts?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
        )
      ).body.counts;
    const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
    const ids = await openAccounts(api, "an", 30);
    const stored = async () => (await api.get<{ next: number }>("/v1/events?after=0&limit=1000")).body.next;
    const head = await stored();
    expect(await pollUntil(counts, (c) => total(c) === head, { timeoutMs: 15_000 })).toBeDefined();
    const old = await counts();

    gate.arm();
    expect((await api.post("/v1/admin/projections/analytics/rebuild")).status).toBe(202);
    expect(await pollUntil(gate.reached, (r) => r, { timeoutMs: 10_000 })).toBe(true);
    expect(await projectionOf(api, "analytics")).toMatchObject({
      state: "rebuilding",
      generation: 1,
      rebuild: { generation: 2 },
    });
    // Held half-way: answers are the old table's, whole.
    for (let i = 0; i < 5; i++) expect(await counts()).toEqual(old);
    // Events stored meanwhile reach the table serving.
    for (const id of ids.slice(0, 5)) await api.post(`/v1/accounts/${id}/deposits`, { amount: 3 });
    const newer = await stored();
    expect(await pollUntil(counts, (c) => total(c) === newer, { timeoutMs: 15_000 })).toBeDefined();
    const live = await counts();
    gate.open();

    // Every answer until and after the switch is whole: the totals as they were, never fewer.
    const seen = await pollUntil(
      async () => {
        const c = await counts();
        expect(c).toEqual(live);
        return projectionOf(api, "analytics");
      },
      (p) => p?.state === "running" && p.generation === 2,
      { timeoutMs: 15_000, intervalMs: 5 },
    );
    expect(seen?.rebuild?.finishedAt).toBeDefined();
    expect(await counts()).toEqual(live);
  } finally {
    await service.dispose();
  }
}, 60_000);
