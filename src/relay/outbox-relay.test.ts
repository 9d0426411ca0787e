import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryBroker } from "../broker/memory/memory-broker.ts";
import type { EventEnvelope } from "../store/envelope.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { ManualScheduler } from "../testing/manual-scheduler.ts";
import { OutboxRelay } from "./outbox-relay.ts";

const dir = mkdtempSync(join(tmpdir(), "eventfold-relay-"));

/**
 * Moves manual time on in steps until `check` holds. The in-process broker settles deliveries on real
 * turns of the event loop, so each step is one as well; no step sleeps.
 */
const until = async (
  time: ManualScheduler,
  check: () => boolean | Promise<boolean>,
  describe: () => unknown = () => "",
) => {
  const deadline = performance.now() + 4_000;
  while (!(await check())) {
    if (performance.now() > deadline) {
      throw new Error(`until: not so at ${time.now()} ms of manual time: ${JSON.stringify(describe())}`);
    }
    await time.advance(10);
  }
};
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Appends `perStream` events to each of `streams` streams; the store's batches run on `time`. */
const appendDeposits = async (
  time: ManualScheduler,
  store: MemoryStore,
  streams: number,
  perStream: number,
  prefix = "account-",
) => {
  for (let version = 0; version < perStream; version++) {
    const appended = Promise.all(
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
    await time.settle();
    await appended;
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
    const time = new ManualScheduler();
    const store = new MemoryStore({ scheduler: time });
    const { broker, received, close } = await recordingBroker("refused", 2);
    // The broker refuses the third round it is given, after the relay has sent more behind it.
    let publishes = 0;
    let fourthHanded = () => {};
    const fourth = new Promise<void>((resolve) => {
      fourthHanded = resolve;
    });
    const flaky = Object.assign(Object.create(broker) as MemoryBroker, {
      publish: async (events: readonly EventEnvelope[]) => {
        publishes += 1;
        if (publishes === 4) fourthHanded();
        if (publishes === 3) {
          await fourth;
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
      scheduler: time,
    });
    try {
      await appendDeposits(time, store, 20, 5);
      const head = await store.headPosition();
      relay.start();
      await until(time, () => relay.position === head);

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
    const time = new ManualScheduler();
    const store = new MemoryStore({ scheduler: time });
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
      scheduler: time,
    });
    try {
      await appendDeposits(time, store, 25, 4);
      const head = await store.headPosition();
      relay.start();
      await until(time, () => handed.length >= 3);
      // A whole second later, with nothing confirmed, it has handed over no more.
      await time.advance(1_000);
      expect(handed).toEqual([10, 10, 10]);
      open();
      await until(
        time,
        () => relay.position === head,
        () => ({ position: relay.position, head, handed, received: received.length }),
      );
      expect(new Set(received.map((e) => e.eventId)).size).toBe(head);
    } finally {
      await relay.stop();
      await close();
      await store.close();
    }
  });

  test("events that trickle in go in few rounds, and the checkpoint is saved once they stop, not after every round", async () => {
    const time = new ManualScheduler();
    const store = new MemoryStore({ scheduler: time });
    const { broker, received, close } = await recordingBroker("trickle", 1);
    let rounds = 0;
    const counting = Object.assign(Object.create(broker) as MemoryBroker, {
      publish: (events: readonly EventEnvelope[]) => {
        rounds += 1;
        return broker.publish(events);
      },
    });
    let saves = 0;
    const countingStore = Object.assign(Object.create(store) as MemoryStore, {
      saveCheckpoint: (name: string, value: string, fence?: number) => {
        saves += 1;
        return store.saveCheckpoint(name, value, fence);
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
      scheduler: time,
    });
    try {
      relay.start();
      // Twelve appends, one every 20 ms: each wakes the relay, but a round waits out the interval.
      for (let i = 0; i < 12; i++) {
        await appendDeposits(time, store, 1, 1, `trickle-${i}-`);
        relay.wake();
        await time.advance(20);
      }
      const head = await store.headPosition();
      await until(time, async () => Number(await store.loadCheckpoint("outbox-relay")) === head);
      expect(new Set(received.map((e) => e.eventId)).size).toBe(head);
      // 240 ms of appends at one round per 250 ms: the first at once, the rest together after it.
      expect(rounds).toBe(2);
      // Saved when the events stopped (and perhaps once more at the very end), not once per round.
      expect(saves).toBeLessThanOrEqual(2);
    } finally {
      await relay.stop();
      await close();
      await store.close();
    }
  });
});
