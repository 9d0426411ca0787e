import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { account } from "../../actors/account/index.ts";
import { snapshotShape } from "../../src/aggregate.ts";
import { ActorSystem } from "../../src/runtime/actor-system.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { type InProcessApp, inProcessApp } from "../support/app.ts";
import { tempDir } from "../support/config.ts";
import { eventually } from "../support/http.ts";

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

const metadata = { commandId: "test", correlationId: "test", causationId: "test" };

/** The system's size once it is `n` (an actor leaves just after its last caller is answered), or the last seen. */
const sizeBecomes = (actors: ActorSystem, n: number) =>
  eventually(
    async () => actors.size,
    (size) => size === n,
  );

/** Opens accounts through the store's own actors, so that they exist before the system under test looks. */
const openThrough = async (store: SqliteStore, ids: readonly string[]) => {
  const opener = actorSystem(store, { maxActors: ids.length + 1, idleMs: 60_000 });
  const command = { type: "OpenAccount", owner: "o", currency: "EUR", kind: "current" } as const;
  const answers = await Promise.all(ids.map((id) => opener.dispatch(account, id, { command, metadata })));
  expect(answers.every((a) => a.kind === "accepted")).toBe(true);
  await opener.drain();
};

/** Opens an account through the edge, with money in it if `deposit` is given. */
const openAccount = async (app: InProcessApp, accountId: string, deposit = 0) => {
  expect(
    (
      await app.request("POST", "/v1/accounts", {
        accountId,
        owner: `owner of ${accountId}`,
        currency: "EUR",
      })
    ).status,
  ).toBe(201);
  if (deposit > 0)
    expect(
      (await app.request("POST", `/v1/accounts/${accountId}/deposits`, { amount: deposit })).status,
    ).toBe(200);
};

describe("actor runtime", () => {
  test("a full mailbox answers 429 overloaded with Retry-After, and only accepted commands count", async () => {
    const app = inProcessApp({ config: { mailboxCapacity: 2 } });
    try {
      await openAccount(app, "busy");
      const answers = await Promise.all(
        Array.from({ length: 300 }, () => app.request("POST", "/v1/accounts/busy/deposits", { amount: 1 })),
      );
      const shed = answers.filter((a) => a.status === 429);
      const accepted = answers.filter((a) => a.status === 200);
      expect(shed.length).toBeGreaterThan(0);
      expect(accepted.length + shed.length).toBe(300);
      expect(shed[0]?.headers.get("retry-after")).toBe("1");
      expect(shed[0]?.body).toMatchObject({ status: 429, code: "overloaded" });
      expect((await app.request("GET", "/v1/accounts/busy/state")).body).toMatchObject({
        balance: accepted.length,
      });
      expect(await app.sqlite.readStream("account-busy")).toHaveLength(accepted.length + 1);
      const metrics = (await app.request("GET", "/metrics")).body;
      expect(metrics).toMatch(/eventfold_overloaded_total\{where="mailbox"\} [1-9]/);
    } finally {
      await app.close();
    }
  });

  test("live actors are bounded: the least recently used idle ones are passivated, then rehydrated", async () => {
    const app = inProcessApp({ config: { maxActors: 10 } });
    try {
      for (let i = 0; i < 60; i++) await openAccount(app, `lru-${i}`, i + 1);
      expect(app.engine.actors.size).toBeLessThanOrEqual(10);
      // The first accounts were passivated long ago; their state comes back from the store.
      expect((await app.request("GET", "/v1/accounts/lru-0/state")).body).toMatchObject({
        balance: 1,
        version: 2,
      });
      expect((await app.request("POST", "/v1/accounts/lru-1/deposits", { amount: 5 })).body).toMatchObject({
        balance: 7,
        version: 3,
      });
      expect(app.engine.actors.size).toBeLessThanOrEqual(10);
    } finally {
      await app.close();
    }
  });

  test("over the bound, an actor used since the eviction hand last passed stays; the oldest unused one goes", async () => {
    const dir = tempDir();
    const store = new SqliteStore({ path: join(dir, "events.sqlite") });
    const loaded: string[] = [];
    const actors = actorSystem(recordingLoads(store, loaded), { maxActors: 3, idleMs: 60_000 });
    try {
      await openThrough(store, ["a", "b", "c", "d"]);
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

  test("ids that do not exist take no slot: reads and refused commands for them never evict a live actor", async () => {
    const dir = tempDir();
    const store = new SqliteStore({ path: join(dir, "events.sqlite") });
    const loaded: string[] = [];
    // Loads of the ids called absent wait until the test lets them go: they stay in flight meanwhile.
    let letGo = () => {};
    const gate = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    const recording = recordingLoads(store, loaded);
    const gated = Object.assign(Object.create(recording) as SqliteStore, {
      streamInfo: async (streamId: string) => {
        if (streamId.startsWith("account-absent-")) await gate;
        return recording.streamInfo(streamId);
      },
    });
    const actors = actorSystem(gated, { maxActors: 5, idleMs: 60_000 });
    try {
      const live = ["l0", "l1", "l2", "l3", "l4"];
      await openThrough(store, live);
      for (const id of live) await actors.view(account, id);
      expect(loaded).toHaveLength(5);
      // Far more missing ids than slots: read one by one, then read and refused all at once.
      for (let i = 0; i < 40; i++) expect((await actors.view(account, `missing-${i}`)).version).toBe(0);
      const deposit = { type: "Deposit", amount: 1 } as const;
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => [
          actors.view(account, `gone-${i}`),
          actors.dispatch(account, `gone-${i}`, { command: deposit, metadata }),
        ]).flat(),
      );
      expect(answers.filter((a) => "kind" in a && a.kind === "rejected")).toHaveLength(40);
      // A refused command's actor goes once its mailbox is empty, just after its caller is answered.
      expect(await sizeBecomes(actors, 5)).toBe(5);
      // The live ones were never evicted: using them again loads none of them.
      for (const id of live) await actors.dispatch(account, id, { command: deposit, metadata });
      expect(loaded.filter((streamId) => live.includes(streamId.replace("account-", "")))).toHaveLength(5);
      // An aggregate that comes to exist by a command stays and makes room by the bound, for itself
      // only: the lookups of missing ids in flight beside it are over the bound, not in it. Counted
      // in it, they would have the live actors all evicted, and the system would end with one actor.
      const open = { type: "OpenAccount", owner: "o", currency: "EUR", kind: "current" } as const;
      const absent = Array.from({ length: 40 }, (_, i) => actors.view(account, `absent-${i}`));
      const opened = await actors.dispatch(account, "new", { command: open, metadata });
      expect(opened.kind).toBe("accepted");
      // Admitted, it made room for itself alone: four live actors, the new one, forty on probation.
      expect(await sizeBecomes(actors, 45)).toBe(45);
      letGo();
      expect((await Promise.all(absent)).map((view) => view.version)).toEqual(absent.map(() => 0));
      expect(await sizeBecomes(actors, 5)).toBe(5);
      await actors.view(account, "new");
      expect(loaded.filter((streamId) => streamId === "account-new")).toHaveLength(1);
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
      const sleepy = Array.from({ length: 12_000 }, (_, i) => `sleepy-${i}`);
      await openThrough(store, [...sleepy, "busy"]);
      for (const id of sleepy) await actors.view(account, id);
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
    const app = inProcessApp({ config: { actorIdleMs: 100 } });
    try {
      for (let i = 0; i < 5; i++) await openAccount(app, `idle-${i}`);
      expect(app.engine.actors.size).toBe(5);
      await eventually(
        async () => app.engine.actors.size,
        (n) => n === 0,
        5_000,
      );
    } finally {
      await app.close();
    }
  });
});

describe("snapshots", () => {
  const dataDir = tempDir();
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  /** An app over the same files each time, as a restart would find them. */
  const restart = () => inProcessApp({ config: { dataDir, snapshotEvery: 10 } });

  test("a snapshot is taken every N events and rehydration starts from it", async () => {
    const first = restart();
    await openAccount(first, "snap");
    for (let i = 1; i <= 24; i++) await first.request("POST", "/v1/accounts/snap/deposits", { amount: 1 });
    const snapshot = await first.sqlite.loadSnapshot("account-snap");
    expect(snapshot?.version).toBe(20);
    expect(snapshot?.state).toMatchObject({ status: "open", balance: 19 });
    await first.close({ keepData: true });

    // Plant a snapshot that disagrees with the events: the actor decides against what it rehydrated.
    const planted = restart();
    await planted.sqlite.saveSnapshot({
      streamId: "account-snap",
      version: 25,
      snapshotVersion: snapshotShape(account),
      state: { status: "open", owner: "planted", currency: "EUR", kind: "current", balance: 1_000 },
    });
    // Only the planted snapshot allows this withdrawal.
    expect((await planted.request("POST", "/v1/accounts/snap/withdrawals", { amount: 500 })).body).toEqual({
      accountId: "snap",
      version: 26,
      balance: 500,
    });
    // A snapshot of another state shape is ignored: the events are replayed instead.
    await planted.sqlite.saveSnapshot({
      streamId: "account-snap",
      version: 26,
      snapshotVersion: 999,
      state: { nonsense: true },
    });
    await planted.close({ keepData: true });

    const replayed = restart();
    try {
      expect((await replayed.request("POST", "/v1/accounts/snap/deposits", { amount: 1 })).body).toEqual({
        accountId: "snap",
        version: 27,
        balance: 501,
      });
      expect((await replayed.request("GET", "/v1/accounts/snap/state")).body).toMatchObject({
        owner: "owner of snap",
      });
    } finally {
      await replayed.close({ keepData: true });
    }
  });
});
