import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { account } from "../actors/account/index.ts";
import { ActorSystem } from "../src/runtime/actor-system.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { client, eventually, openAccount } from "./support/http.ts";
import { startTestService, tempDir } from "./support/service.ts";

/** The store, noting each stream whose actor is loaded from it. */
const recordingLoads = (store: SqliteStore, loaded: string[]) =>
  Object.assign(Object.create(store) as SqliteStore, {
    streamInfo: (streamId: string) => {
      loaded.push(streamId);
      return store.streamInfo(streamId);
    },
  });

const actorSystem = (store: SqliteStore, bounds: { maxActors: number; idleMs: number }) =>
  new ActorSystem(store, {
    ...bounds,
    mailboxCapacity: 10,
    maxBatch: 10,
    snapshotEvery: 100,
    maxAttempts: 3,
  });

describe("actor runtime", () => {
  test("a full mailbox answers 429 overloaded with Retry-After, and only accepted commands count", async () => {
    const service = await startTestService({ mailboxCapacity: 2 });
    try {
      const api = client(service.url);
      await openAccount(api, "busy");
      const answers = await Promise.all(
        Array.from({ length: 300 }, () => api.post("/v1/accounts/busy/deposits", { amount: 1 })),
      );
      const shed = answers.filter((a) => a.status === 429);
      const accepted = answers.filter((a) => a.status === 200);
      expect(shed.length).toBeGreaterThan(0);
      expect(accepted.length + shed.length).toBe(300);
      expect(shed[0]?.headers.get("retry-after")).toBe("1");
      expect(shed[0]?.body).toMatchObject({ status: 429, code: "overloaded" });
      expect((await api.get("/v1/accounts/busy/state")).body).toMatchObject({ balance: accepted.length });
      expect(await service.engine.store.readStream("account-busy")).toHaveLength(accepted.length + 1);
      const metrics = await (await fetch(`${service.url}/metrics`)).text();
      expect(metrics).toMatch(/eventfold_overloaded_total\{where="mailbox"\} [1-9]/);
    } finally {
      await service.dispose();
    }
  });

  test("live actors are bounded: the least recently used idle ones are passivated, then rehydrated", async () => {
    const service = await startTestService({ maxActors: 10 });
    try {
      const api = client(service.url);
      for (let i = 0; i < 60; i++) await openAccount(api, `lru-${i}`, "EUR", i + 1);
      expect(service.engine.actors.size).toBeLessThanOrEqual(10);
      // The first accounts were passivated long ago; their state comes back from the store.
      expect((await api.get("/v1/accounts/lru-0/state")).body).toMatchObject({ balance: 1, version: 2 });
      expect((await api.post("/v1/accounts/lru-1/deposits", { amount: 5 })).body).toMatchObject({
        balance: 7,
        version: 3,
      });
      expect(service.engine.actors.size).toBeLessThanOrEqual(10);
    } finally {
      await service.dispose();
    }
  });

  test("over the bound, an actor used since the eviction hand last passed stays; the oldest unused one goes", async () => {
    const dir = tempDir();
    const store = new SqliteStore({ path: join(dir, "events.sqlite") });
    const loaded: string[] = [];
    const actors = actorSystem(recordingLoads(store, loaded), { maxActors: 3, idleMs: 60_000 });
    try {
      for (const id of ["a", "b", "c", "a", "d", "a", "b"]) await actors.view(account, id);
      // "a" was used again before "d" came, so "b", the oldest unused, made room; "b" came back from the store.
      expect(loaded).toEqual(["account-a", "account-b", "account-c", "account-d", "account-b"]);
      expect(actors.size).toBe(3);
    } finally {
      await actors.drain();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the idle sweep goes through more actors than one slice, and keeps the ones in use", async () => {
    const dir = tempDir();
    const store = new SqliteStore({ path: join(dir, "events.sqlite") });
    const loaded: string[] = [];
    const actors = actorSystem(recordingLoads(store, loaded), { maxActors: 50_000, idleMs: 1_000 });
    try {
      for (let i = 0; i < 12_000; i++) await actors.view(account, `sleepy-${i}`);
      expect(actors.size).toBe(12_000);
      const deadline = Date.now() + 10_000;
      do {
        await actors.view(account, "busy");
        await Bun.sleep(100);
      } while (actors.size > 1 && Date.now() < deadline);
      expect(actors.size).toBe(1);
      await actors.view(account, "busy");
      // Used every 100 ms, it was never passivated, so it was loaded from the store only once.
      expect(loaded.filter((streamId) => streamId === "account-busy")).toHaveLength(1);
    } finally {
      await actors.drain();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("idle actors are passivated after the idle time", async () => {
    const service = await startTestService({ actorIdleMs: 100 });
    try {
      const api = client(service.url);
      for (let i = 0; i < 5; i++) await openAccount(api, `idle-${i}`);
      expect(service.engine.actors.size).toBe(5);
      const size = await eventually(
        async () => service.engine.actors.size,
        (n) => n === 0,
        5_000,
      );
      expect(size).toBe(0);
    } finally {
      await service.dispose();
    }
  });
});

describe("snapshots", () => {
  const dataDir = tempDir();
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  test("a snapshot is taken every N events and rehydration starts from it", async () => {
    const first = await startTestService({ dataDir, snapshotEvery: 10 });
    const api = client(first.url);
    await openAccount(api, "snap");
    for (let i = 1; i <= 24; i++) await api.post("/v1/accounts/snap/deposits", { amount: 1 });
    const snapshot = await first.engine.store.loadSnapshot("account-snap");
    expect(snapshot?.version).toBe(20);
    expect(snapshot?.state).toMatchObject({ status: "open", balance: 19 });
    await first.stop();

    // Rehydration reads the snapshot, then only the events after it.
    const second = await startTestService({ dataDir, snapshotEvery: 10 });
    try {
      expect((await client(second.url).get("/v1/accounts/snap/state")).body).toMatchObject({
        balance: 24,
        version: 25,
      });
      // Proof that the snapshot is what was read: plant one that disagrees with the events.
      await second.engine.store.saveSnapshot({
        streamId: "account-snap",
        version: 25,
        snapshotVersion: account.snapshotVersion ?? 1,
        state: { status: "open", owner: "planted", currency: "EUR", balance: 1_000 },
      });
      // The actor decides against the state it rehydrated: only the planted snapshot allows this withdrawal.
      const fresh = await startTestService({ dataDir, snapshotEvery: 10 });
      try {
        expect((await client(fresh.url).post("/v1/accounts/snap/withdrawals", { amount: 500 })).body).toEqual(
          {
            accountId: "snap",
            version: 26,
            balance: 500,
          },
        );
        // A snapshot of another state shape is ignored: the events are replayed instead.
        await fresh.engine.store.saveSnapshot({
          streamId: "account-snap",
          version: 26,
          snapshotVersion: 999,
          state: { nonsense: true },
        });
      } finally {
        await fresh.stop();
      }
      const replayed = await startTestService({ dataDir, snapshotEvery: 10 });
      try {
        const api = client(replayed.url);
        expect((await api.post("/v1/accounts/snap/deposits", { amount: 1 })).body).toEqual({
          accountId: "snap",
          version: 27,
          balance: 501,
        });
        expect((await api.get("/v1/accounts/snap/state")).body).toMatchObject({ owner: "owner of snap" });
      } finally {
        await replayed.stop();
      }
    } finally {
      await second.stop();
    }
    // Four services start and stop here, each opening its store and chDB: 5 s on a busy machine.
  }, 30_000);
});
