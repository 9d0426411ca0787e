import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { MemoryBroker } from "../src/broker/memory/memory-broker.ts";
import { OutboxRelay } from "../src/relay/outbox-relay.ts";
import type { EventEnvelope } from "../src/store/envelope.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { eventually } from "./support/http.ts";
import { tempDir } from "./support/service.ts";

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const appendDeposits = async (
  store: SqliteStore,
  streams: number,
  perStream: number,
  prefix = "account-",
) => {
  for (let version = 0; version < perStream; version++) {
    await Promise.all(
      Array.from({ length: streams }, (_, s) =>
        store.append({
          streamId: `${prefix}${s}`,
          aggregateType: "account",
          expectedVersion: version,
          events: [
            {
              eventId: Bun.randomUUIDv7(),
              type: "Deposited",
              schemaVersion: 1,
              data: { amount: 1 },
              metadata: { commandId: "c", correlationId: "c", causationId: "c" },
            },
          ],
        }),
      ),
    );
  }
};

/** An in-process broker with one projection that records every event it is given. */
const recordingBroker = async (name: string, shards: number) => {
  const broker = new MemoryBroker({
    shards,
    batchSize: 50,
    batchWaitMs: 1,
    retry: { maxAttempts: 3, backoffMs: () => 10 },
    deadLetterPath: join(dir, `${name}-dead-letters.sqlite`),
  });
  await broker.declare([{ name: "everything", aggregateTypes: ["account"] }]);
  const received: EventEnvelope[] = [];
  const subscription = await broker.subscribe("everything", async (batch) => {
    for (const delivery of batch) received.push(delivery.event);
    return batch.map(() => ({ ok: true as const }));
  });
  return {
    broker,
    received,
    close: async () => {
      await subscription.close();
      await broker.close();
    },
  };
};

describe("outbox relay", () => {
  test("with rounds in flight, a rejected round holds the checkpoint back; every event still arrives", async () => {
    const store = new SqliteStore({ path: join(dir, "relay.sqlite") });
    const { broker, received, close } = await recordingBroker("refused", 2);
    // The broker refuses the third round it is given, after the relay has sent more behind it.
    let publishes = 0;
    const flaky = Object.assign(Object.create(broker) as MemoryBroker, {
      publish: async (events: readonly EventEnvelope[]) => {
        publishes += 1;
        if (publishes === 3) {
          await Bun.sleep(20);
          throw new Error("broker refused the round");
        }
        return broker.publish(events);
      },
    });
    const checkpoints: { count: number; last: number }[] = [];
    const errors: unknown[] = [];
    const relay = new OutboxRelay(store, flaky, {
      batchSize: 7,
      maxInFlight: 4,
      idleMs: 10,
      leaseTtlMs: 10_000,
      onError: (error) => errors.push(error),
      onPublished: (count, last) => checkpoints.push({ count, last }),
    });
    try {
      await appendDeposits(store, 20, 5);
      const head = await store.headPosition();
      relay.start();
      await eventually(
        async () => relay.position,
        (p) => p === head,
        10_000,
      );

      expect(errors.map((e) => (e as Error).message)).toEqual(["broker refused the round"]);
      // Confirmed rounds follow each other without a gap: the refused round was read again.
      let confirmedUpTo = 0;
      for (const { count, last } of checkpoints) {
        expect(last - count).toBe(confirmedUpTo);
        confirmedUpTo = last;
      }
      expect(confirmedUpTo).toBe(head);
      expect(Number(await store.loadCheckpoint("outbox-relay"))).toBe(head);
      // At least once: every event arrived. Rounds sent behind the refused one may have arrived before
      // it was sent again; projections treat that as a gap and read the missing events from the store.
      expect(new Set(received.map((e) => e.eventId)).size).toBe(head);
      const refusedAgain = received.length - head;
      expect(refusedAgain).toBeGreaterThan(0);
    } finally {
      await relay.stop();
      await close();
      await store.close();
    }
  });

  test("a projection that does not confirm holds at most maxEventsInFlight events in rounds, however many rounds are allowed", async () => {
    const store = new SqliteStore({ path: join(dir, "relay-bounded.sqlite") });
    const { broker, received, close } = await recordingBroker("bounded", 1);
    // The broker takes rounds but confirms none until the gate opens, as a lagging projection would.
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const handed: number[] = [];
    const gated = Object.assign(Object.create(broker) as MemoryBroker, {
      publish: async (events: readonly EventEnvelope[]) => {
        handed.push(events.length);
        await gate;
        return broker.publish(events);
      },
    });
    const relay = new OutboxRelay(store, gated, {
      batchSize: 10,
      maxInFlight: 100,
      maxEventsInFlight: 30,
      idleMs: 10,
      leaseTtlMs: 10_000,
      onError: () => {},
    });
    try {
      await appendDeposits(store, 25, 4);
      const head = await store.headPosition();
      relay.start();
      await eventually(
        async () => handed.length,
        (rounds) => rounds >= 3,
        5_000,
      );
      await Bun.sleep(300);
      expect(handed).toEqual([10, 10, 10]);
      open();
      await eventually(
        async () => relay.position,
        (p) => p === head,
        10_000,
      );
      expect(new Set(received.map((e) => e.eventId)).size).toBe(head);
    } finally {
      await relay.stop();
      await close();
      await store.close();
    }
  });

  test("events that trickle in go in few rounds, and the checkpoint is saved once they stop, not after every round", async () => {
    const store = new SqliteStore({ path: join(dir, "relay-trickle.sqlite") });
    const { broker, received, close } = await recordingBroker("trickle", 1);
    let rounds = 0;
    const counting = Object.assign(Object.create(broker) as MemoryBroker, {
      publish: (events: readonly EventEnvelope[]) => {
        rounds += 1;
        return broker.publish(events);
      },
    });
    let saves = 0;
    const countingStore = Object.assign(Object.create(store) as SqliteStore, {
      saveCheckpoint: (name: string, value: string) => {
        saves += 1;
        return store.saveCheckpoint(name, value);
      },
    });
    const relay = new OutboxRelay(countingStore, counting, {
      batchSize: 1000,
      maxInFlight: 64,
      minRoundIntervalMs: 250,
      checkpointEveryMs: 60_000,
      idleMs: 10,
      leaseTtlMs: 10_000,
      onError: () => {},
    });
    try {
      relay.start();
      // Twelve appends, one every 20 ms: each wakes the relay, but a round waits out the interval.
      for (let i = 0; i < 12; i++) {
        await appendDeposits(store, 1, 1, `trickle-${i}-`);
        await Bun.sleep(20);
      }
      const head = await store.headPosition();
      await eventually(
        async () => Number(await store.loadCheckpoint("outbox-relay")),
        (saved) => saved === head,
        10_000,
      );
      expect(new Set(received.map((e) => e.eventId)).size).toBe(head);
      // 240 ms of appends at one round per 250 ms: two rounds, three at most on a slow machine.
      expect(rounds).toBeLessThanOrEqual(3);
      // Saved when the events stopped (and perhaps once more at the very end), not once per round.
      expect(saves).toBeLessThanOrEqual(2);
    } finally {
      await relay.stop();
      await close();
      await store.close();
    }
  });
});
