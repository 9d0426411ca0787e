import { describe, expect, test } from "bun:test";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { ManualScheduler } from "../testing/manual-scheduler.ts";
import { EventFeed } from "./event-feed.ts";

const meta = { commandId: "c", correlationId: "c", causationId: "c" };

/** Appends one event of `type` to `streamId` (an `aggregateType-…` id) at `version`. */
const appendOne = (store: MemoryStore, streamId: string, version: number, eventId: string, type: string) =>
  store.append({
    streamId,
    aggregateType: streamId.slice(0, streamId.indexOf("-")),
    expectedVersion: version - 1,
    events: [{ eventId, type, schemaVersion: 1, data: {}, metadata: meta }],
  });

/** A store holding `types.length` events, one per stream, of these aggregate and event types. */
const storeWith = async (types: readonly (readonly [string, string])[]) => {
  const store = new MemoryStore();
  for (const [i, [aggregateType, type]] of types.entries()) {
    await appendOne(store, `${aggregateType}-${i}`, 1, `e${i}`, type);
  }
  return store;
};

const deposits = (n: number) => Array.from({ length: n }, () => ["account", "MoneyDeposited"] as const);

describe("the event feed", () => {
  test("hands out events after a position in position order, a page at a time, and says where to go on", async () => {
    const feed = new EventFeed(await storeWith(deposits(250)), { pageSize: 100 });
    const first = await feed.read(0, 120);
    expect(first.events.map((e) => e.position)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(first).toMatchObject({ next: 120, caughtUp: false, generation: 0 });
    const rest = await feed.read(first.next, 1000);
    expect(rest.events.map((e) => e.position)).toEqual(Array.from({ length: 130 }, (_, i) => i + 121));
    expect(rest).toMatchObject({ next: 250, caughtUp: true, generation: 0 });
    expect(await feed.read(250, 10)).toEqual({ events: [], next: 250, caughtUp: true, generation: 0 });
  });

  test("what an earlier read kept does not end a page early: the store gives the rest", async () => {
    const store = await storeWith(deposits(30));
    const feed = new EventFeed(store, { pageSize: 100 });
    expect((await feed.read(0, 100)).events).toHaveLength(30);
    for (let i = 30; i < 40; i++) {
      await appendOne(store, `account-more-${i}`, 1, `m${i}`, "MoneyDeposited");
    }
    feed.wake();
    const again = await feed.read(10, 100);
    expect(again.events.map((e) => e.position)).toEqual(Array.from({ length: 30 }, (_, i) => i + 11));
    expect(again).toMatchObject({ next: 40, caughtUp: true, generation: 0 });
  });

  test("a filter passes the events of the types asked for; an answer stops at its limit, not at its page", async () => {
    const store = await storeWith([
      ["account", "AccountOpened"],
      ["transfer", "TransferRequested"],
      ["account", "MoneyDeposited"],
      ["transfer", "TransferCompleted"],
      ["account", "MoneyWithdrawn"],
      ["account", "MoneyDeposited"],
    ]);
    const feed = new EventFeed(store, { pageSize: 4 });
    const transfers = await feed.read(0, 10, { aggregateTypes: ["transfer"] });
    expect(transfers.events.map((e) => e.type)).toEqual(["TransferRequested", "TransferCompleted"]);
    expect(transfers).toMatchObject({ next: 6, caughtUp: true, generation: 0 });
    const movements = await feed.read(0, 2, { types: ["MoneyDeposited", "MoneyWithdrawn"] });
    expect(movements.events.map((e) => e.position)).toEqual([3, 5]);
    // The event after the last handed out was read but not handed out: the next read starts at it.
    expect(movements).toMatchObject({ next: 5, caughtUp: false, generation: 0 });
    const both = await feed.read(0, 10, { aggregateTypes: ["account"], types: ["MoneyDeposited"] });
    expect(both.events.map((e) => e.position)).toEqual([3, 6]);
  });

  test("a filter that passes nothing scans a bounded stretch and says how far it got", async () => {
    const feed = new EventFeed(await storeWith(deposits(50)), { pageSize: 10, scanLimit: 20 });
    const page = await feed.read(0, 10, { types: ["AccountClosed"] });
    expect(page).toEqual({ events: [], next: 20, caughtUp: false, generation: 0 });
    const end = await feed.read(40, 10, { types: ["AccountClosed"] });
    expect(end).toEqual({ events: [], next: 50, caughtUp: true, generation: 0 });
  });

  test("a long poll answers when an event it wants is appended, and empty once its wait is over", async () => {
    const time = new ManualScheduler();
    const store = await storeWith(deposits(1));
    const feed = new EventFeed(store, { scheduler: time, pollMs: 1_000_000 });
    let answered: Awaited<ReturnType<EventFeed["poll"]>> | undefined;
    const polling = feed.poll(1, 10, { types: ["AccountClosed"] }, 30_000).then((page) => {
      answered = page;
    });
    await time.settle();
    expect(answered).toBeUndefined();
    // An event it does not want wakes it, and it waits on, from past that event.
    await appendOne(store, "account-x", 1, "x", "MoneyDeposited");
    feed.wake();
    await time.settle();
    expect(answered).toBeUndefined();
    await appendOne(store, "account-x", 2, "y", "AccountClosed");
    feed.wake();
    await time.settle();
    await polling;
    expect(answered?.events.map((e) => e.eventId)).toEqual(["y"]);

    const waiting = feed.poll(3, 10, {}, 5_000);
    await time.advance(5_000);
    expect(await waiting).toEqual({ events: [], next: 3, caughtUp: true, generation: 0 });
  });

  test("a long poll with no wakeup still looks again every pollMs, for other processes' appends", async () => {
    const time = new ManualScheduler();
    const store = await storeWith(deposits(1));
    const feed = new EventFeed(store, { scheduler: time, pollMs: 200 });
    const polling = feed.poll(1, 10, {}, 30_000);
    await time.settle();
    await appendOne(store, "account-y", 1, "z", "MoneyDeposited");
    await time.advance(200);
    expect((await polling).events.map((e) => e.eventId)).toEqual(["z"]);
  });

  test("closing the feed answers every waiting long poll at once", async () => {
    const feed = new EventFeed(await storeWith(deposits(1)), { pollMs: 1_000_000 });
    const polling = feed.poll(1, 10, {}, 30_000);
    const unfollow = feed.follow("polls");
    expect(feed.consumers.polls).toBe(1);
    feed.close();
    expect(await polling).toEqual({ events: [], next: 1, caughtUp: true, generation: 0 });
    unfollow();
    unfollow();
    expect(feed.consumers.polls).toBe(0);
  });
});
