import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pollUntil } from "../../lib/poll.ts";
import type { EventEnvelope } from "../../store/envelope.ts";
import type { Delivery } from "../broker.ts";
import { MemoryBroker } from "./memory-broker.ts";

const dir = mkdtempSync(join(tmpdir(), "eventfold-memory-broker-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const brokerAt = async (path: string, retryMs = 1) => {
  const broker = new MemoryBroker({
    shards: 2,
    batchSize: 10,
    batchWaitMs: 1,
    retry: { maxAttempts: 2, backoffMs: () => retryMs },
    deadLetterPath: join(dir, path),
  });
  await broker.declare([
    { name: "slow", aggregateTypes: ["account"] },
    { name: "fast", aggregateTypes: ["account"] },
  ]);
  return broker;
};

const events = (n: number): EventEnvelope[] =>
  Array.from({ length: n }, (_, i) => ({
    position: i + 1,
    eventId: `event-${i + 1}`,
    streamId: `account-${i % 3}`,
    aggregateType: "account",
    version: Math.floor(i / 3) + 1,
    type: "MoneyDeposited",
    schemaVersion: 1,
    data: { amount: i + 1 },
    metadata: { commandId: "c", correlationId: "c", causationId: "c" },
    time: new Date(0).toISOString(),
  }));

/** What waits for `slow` once it has taken all it was given (undefined: still some after 5 s). */
const drained = (broker: MemoryBroker) =>
  pollUntil(
    () => broker.queued("slow"),
    (n) => n === 0,
    { timeoutMs: 5_000, intervalMs: 1 },
  );

/** Each stream's versions, in the order they were applied: the order per aggregate must hold. */
const byStream = (deliveries: readonly Delivery[]) => {
  const streams: Record<string, number[]> = {};
  for (const { event } of deliveries) {
    streams[event.streamId] = [...(streams[event.streamId] ?? []), event.version];
  }
  return streams;
};

/** A handler that records what it applied; every delivery is applied. */
const recorder = () => {
  const applied: Delivery[] = [];
  const handler = async (batch: readonly Delivery[]) => {
    applied.push(...batch);
    return batch.map(() => ({ ok: true as const }));
  };
  return { applied, handler };
};

describe("the in-process broker, a projection paused", () => {
  test("publishing does not wait for it; the other projection goes on; it gets every event on resume", async () => {
    const broker = await brokerAt("pause.sqlite");
    const slow = recorder();
    const fast = recorder();
    const slowSubscription = await broker.subscribe("slow", slow.handler);
    const fastSubscription = await broker.subscribe("fast", fast.handler);
    await slowSubscription.pause();
    await broker.publish(events(30));
    expect(fast.applied.length).toBe(30);
    expect(slow.applied).toEqual([]);
    expect(await broker.queued("slow")).toBe(30);
    await slowSubscription.resume();
    expect(await drained(broker)).toBe(0);
    expect(byStream(slow.applied)).toEqual(byStream(events(30).map((event) => ({ event, attempt: 1 }))));
    await slowSubscription.close();
    await fastSubscription.close();
    await broker.close();
  });

  test("what waited for it outlives the process: a broker started again over the same file delivers it", async () => {
    const first = await brokerAt("crash.sqlite");
    const before = await first.subscribe("slow", recorder().handler);
    await first.subscribe("fast", recorder().handler);
    await before.pause();
    await first.publish(events(12));
    // Stopped without resuming, as a process killed while the projection was paused.
    await first.close();

    const second = await brokerAt("crash.sqlite");
    expect(await second.queued("slow")).toBe(12);
    const slow = recorder();
    await second.subscribe("slow", slow.handler);
    await second.subscribe("fast", recorder().handler);
    expect(await drained(second)).toBe(0);
    expect(byStream(slow.applied)).toEqual(byStream(events(12).map((event) => ({ event, attempt: 1 }))));
    await second.close();
  });

  test("a delivery waiting out its retry when the projection is paused and resumed is applied once", async () => {
    const broker = await brokerAt("retry.sqlite", 200);
    let failedOnce = false;
    let failed = () => {};
    const failure = new Promise<void>((resolve) => {
      failed = resolve;
    });
    const applied: string[] = [];
    const subscription = await broker.subscribe("slow", async (batch) =>
      batch.map((delivery) => {
        if (delivery.event.eventId === "event-2" && !failedOnce) {
          failedOnce = true;
          failed();
          return { ok: false, error: "not yet" };
        }
        applied.push(delivery.event.eventId);
        return { ok: true };
      }),
    );
    await broker.subscribe("fast", recorder().handler);
    await subscription.pause();
    await broker.publish(events(3));
    await subscription.resume();
    await failure;
    // Its retry waits 200 ms in a timer: paused and resumed meanwhile, it must not be handed out twice.
    await subscription.pause();
    await subscription.resume();
    expect(await drained(broker)).toBe(0);
    expect(applied.sort()).toEqual(["event-1", "event-2", "event-3"]);
    await broker.close();
  });

  test("a file written before it held deliveries opens: its dead letters are kept, and a pause can hold", async () => {
    // As the broker before pauses wrote it (its dead-letter table alone), with one dead letter in it.
    const path = join(dir, "before-pauses.sqlite");
    const old = new Database(path, { create: true, strict: true });
    old.exec(`CREATE TABLE IF NOT EXISTS dead_letters (
      id INTEGER PRIMARY KEY, projection TEXT NOT NULL, event TEXT NOT NULL, error TEXT NOT NULL,
      attempts INTEGER NOT NULL, dead_lettered_at TEXT NOT NULL)`);
    const letter: EventEnvelope = {
      ...(events(1)[0] as EventEnvelope),
      eventId: "old-1",
      streamId: "account-old",
    };
    old
      .query(
        "INSERT INTO dead_letters (projection, event, error, attempts, dead_lettered_at) VALUES (?, ?, ?, ?, ?)",
      )
      .run("slow", JSON.stringify(letter), "it failed", 2, "2026-12-01T00:00:00.000Z");
    old.close();

    const broker = await brokerAt("before-pauses.sqlite");
    expect(await broker.deadLetters.list("slow")).toEqual([
      { event: letter, error: "it failed", attempts: 2, deadLetteredAt: "2026-12-01T00:00:00.000Z" },
    ]);
    const slow = recorder();
    const subscription = await broker.subscribe("slow", slow.handler);
    await broker.subscribe("fast", recorder().handler);
    await subscription.pause();
    await broker.publish(events(4).slice(1));
    expect(await broker.queued("slow")).toBe(3);
    expect(await broker.deadLetters.replayOne("slow", letter.eventId)).toBe(true);
    await subscription.resume();
    expect(await drained(broker)).toBe(0);
    const waited = [...events(4).slice(1), letter];
    expect(byStream(slow.applied)).toEqual(byStream(waited.map((event) => ({ event, attempt: 1 }))));
    expect(await broker.deadLetters.count("slow")).toBe(0);
    await broker.close();
  });
});
