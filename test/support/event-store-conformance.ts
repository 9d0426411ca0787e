import { afterAll, describe, expect, test } from "bun:test";
import type { NewEvent } from "../../src/store/envelope.ts";
import type { EventStore } from "../../src/store/event-store.ts";

/** Opens a store over the suite's data; opening twice gives two clients of the same data. */
export type OpenStore = (onBatch?: (size: number) => void) => Promise<EventStore>;

const event = (type: string, data: Record<string, unknown> = {}): NewEvent => ({
  eventId: Bun.randomUUIDv7(),
  type,
  schemaVersion: 1,
  data,
  metadata: { commandId: "c", correlationId: "corr", causationId: "cause" },
});

let streams = 0;
const newStream = () => `conformance-${Date.now().toString(36)}-${++streams}`;

/** The guarantees of the EventStore port, run against every adapter that is reachable. */
export const describeEventStoreConformance = (name: string, open: OpenStore) => {
  describe(`event store conformance: ${name}`, () => {
    const opened: EventStore[] = [];
    const connect = async (onBatch?: (size: number) => void) => {
      const store = await open(onBatch);
      opened.push(store);
      return store;
    };
    afterAll(async () => {
      for (const store of opened) await store.close().catch(() => {});
    });

    test("appends several events atomically and reads them back in order with full envelopes", async () => {
      const store = await connect();
      const streamId = newStream();
      const result = await store.append({
        streamId,
        aggregateType: "conformance",
        expectedVersion: 0,
        events: [event("A", { n: 1 }), event("B", { n: 2 }), event("C", { n: 3 })],
      });
      expect(result).toMatchObject({ ok: true, version: 3 });
      const events = await store.readStream(streamId);
      expect(events.map((e) => [e.type, e.version, e.data])).toEqual([
        ["A", 1, { n: 1 }],
        ["B", 2, { n: 2 }],
        ["C", 3, { n: 3 }],
      ]);
      const [first] = events;
      expect(first).toMatchObject({
        streamId,
        aggregateType: "conformance",
        schemaVersion: 1,
        metadata: { commandId: "c", correlationId: "corr", causationId: "cause" },
      });
      expect(Number.isNaN(Date.parse(first?.time ?? ""))).toBe(false);
      expect(await store.streamInfo(streamId)).toMatchObject({ version: 3, final: false });
    });

    test("refuses an append at the wrong expected version and writes nothing", async () => {
      const store = await connect();
      const streamId = newStream();
      await store.append({
        streamId,
        aggregateType: "conformance",
        expectedVersion: 0,
        events: [event("A")],
      });
      const stale = await store.append({
        streamId,
        aggregateType: "conformance",
        expectedVersion: 0,
        events: [event("X"), event("Y")],
      });
      expect(stale).toEqual({ ok: false, reason: "version_conflict", actualVersion: 1 });
      expect((await store.readStream(streamId)).map((e) => e.type)).toEqual(["A"]);
    });

    test("of many concurrent appends from the same version exactly one wins, whole", async () => {
      const store = await connect();
      const streamId = newStream();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.append({
            streamId,
            aggregateType: "conformance",
            expectedVersion: 0,
            events: [event("W", { writer: i }), event("W2", { writer: i })],
          }),
        ),
      );
      const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
      expect(winners).toHaveLength(1);
      const [winner] = winners;
      const events = await store.readStream(streamId);
      expect(events.map((e) => (e.data as { writer: number }).writer)).toEqual([winner ?? -1, winner ?? -1]);
    });

    test("two clients of the same data: a clash is detected across them", async () => {
      const a = await connect();
      const b = await connect();
      const streamId = newStream();
      const [ra, rb] = await Promise.all([
        a.append({ streamId, aggregateType: "conformance", expectedVersion: 0, events: [event("A")] }),
        b.append({ streamId, aggregateType: "conformance", expectedVersion: 0, events: [event("B")] }),
      ]);
      expect([ra.ok, rb.ok].filter(Boolean)).toHaveLength(1);
      expect(await a.readStream(streamId)).toHaveLength(1);
      expect(await b.readStream(streamId)).toHaveLength(1);
    });

    test("group commit: concurrent appends to many streams share round trips, each answered on its own", async () => {
      const batches: number[] = [];
      const store = await connect((size) => batches.push(size));
      const ids = Array.from({ length: 200 }, newStream);
      const results = await Promise.all(
        ids.map((streamId) =>
          store.append({ streamId, aggregateType: "conformance", expectedVersion: 0, events: [event("A")] }),
        ),
      );
      expect(results.every((r) => r.ok)).toBe(true);
      expect(batches.reduce((a, b) => a + b, 0)).toBe(200);
      expect(Math.max(...batches)).toBeGreaterThan(1);
      // One clash in a batch does not spoil the others.
      const mixed = await Promise.all([
        store.append({
          streamId: ids[0] ?? "",
          aggregateType: "conformance",
          expectedVersion: 0,
          events: [event("X")],
        }),
        store.append({
          streamId: ids[1] ?? "",
          aggregateType: "conformance",
          expectedVersion: 1,
          events: [event("B")],
        }),
      ]);
      expect(mixed.map((r) => r.ok)).toEqual([false, true]);
    });

    test("keeps outcomes with the events; a key that holds one refuses the whole append", async () => {
      const store = await connect();
      const streamId = newStream();
      const key = `key-${streamId}`;
      const stored = { key, fingerprint: "f1", outcome: { kind: "accepted", id: "x", version: 1 } };
      expect(
        await store.append({
          streamId,
          aggregateType: "conformance",
          expectedVersion: 0,
          events: [event("A")],
          outcomes: [stored],
        }),
      ).toMatchObject({ ok: true });
      expect(await store.findOutcome(key)).toEqual(stored);
      const again = await store.append({
        streamId,
        aggregateType: "conformance",
        expectedVersion: 1,
        events: [event("B")],
        outcomes: [{ ...stored, fingerprint: "f2" }],
      });
      expect(again).toEqual({ ok: false, reason: "idempotency_conflict", key });
      expect(await store.readStream(streamId)).toHaveLength(1);
      expect(await store.findOutcome(key)).toEqual(stored);
    });

    test("outcomes without events: the first one under a key is kept, and a later one is told so", async () => {
      const store = await connect();
      const key = `standalone-${newStream()}`;
      const refusal = { key, fingerprint: "f", outcome: { kind: "rejected", code: "insufficient_funds" } };
      expect(await store.saveOutcomes([refusal])).toEqual([undefined]);
      expect(await store.saveOutcomes([{ key, fingerprint: "g", outcome: { kind: "accepted" } }])).toEqual([
        refusal,
      ]);
      expect(await store.findOutcome(key)).toEqual(refusal);
      expect(await store.findOutcome(`${key}-missing`)).toBeUndefined();
    });

    test("one key, one outcome: an append under a key that holds a stored refusal is refused whole", async () => {
      const store = await connect();
      const streamId = newStream();
      const key = `refused-${streamId}`;
      const refusal = { key, fingerprint: "f", outcome: { kind: "rejected", code: "insufficient_funds" } };
      await store.saveOutcomes([refusal]);
      const append = await store.append({
        streamId,
        aggregateType: "conformance",
        expectedVersion: 0,
        events: [event("A")],
        outcomes: [{ key, fingerprint: "f", outcome: { kind: "accepted" } }],
      });
      expect(append).toEqual({ ok: false, reason: "idempotency_conflict", key });
      expect(await store.readStream(streamId)).toEqual([]);
      expect(await store.findOutcome(key)).toEqual(refusal);
    });

    test("reads a stream by range and page", async () => {
      const store = await connect();
      const streamId = newStream();
      for (let v = 0; v < 10; v += 2) {
        await store.append({
          streamId,
          aggregateType: "conformance",
          expectedVersion: v,
          events: [event("E", { v: v + 1 }), event("E", { v: v + 2 })],
        });
      }
      const versions = async (o: Parameters<EventStore["readStream"]>[1]) =>
        (await store.readStream(streamId, o)).map((e) => e.version);
      expect(await versions({})).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(await versions({ after: 3, limit: 4 })).toEqual([4, 5, 6, 7]);
      expect(await versions({ upTo: 5 })).toEqual([1, 2, 3, 4, 5]);
      expect(await versions({ after: 10 })).toEqual([]);
      expect(await store.readStream("no-such-stream")).toEqual([]);
      expect(await store.streamInfo("no-such-stream")).toBeUndefined();
    });

    test("readAll gives every event once, in one global order that keeps each stream's order", async () => {
      const store = await connect();
      const start = await store.headPosition();
      const ids = Array.from({ length: 5 }, newStream);
      await Promise.all(
        ids.map(async (streamId) => {
          for (let v = 0; v < 6; v++) {
            await store.append({
              streamId,
              aggregateType: "conformance",
              expectedVersion: v,
              events: [event("E")],
            });
          }
        }),
      );
      const seen: { streamId: string; version: number; position: number }[] = [];
      for (let after = start; ; ) {
        const page = await store.readAll(after, 7);
        if (page.length === 0) break;
        seen.push(...page);
        after = page.at(-1)?.position ?? after;
      }
      const ours = seen.filter((e) => ids.includes(e.streamId));
      expect(ours).toHaveLength(30);
      const positions = seen.map((e) => e.position);
      expect(new Set(positions).size).toBe(positions.length);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
      for (const id of ids) {
        expect(ours.filter((e) => e.streamId === id).map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6]);
      }
      expect(await store.headPosition()).toBe(positions.at(-1) ?? start);
    });

    test("lists the streams of a type that are not final", async () => {
      const store = await connect();
      const type = `proc${Date.now().toString(36)}${streams}`;
      const [open1, done, open2, bornDone] = [newStream(), newStream(), newStream(), newStream()];
      for (const streamId of [open1, done, open2]) {
        await store.append({ streamId, aggregateType: type, expectedVersion: 0, events: [event("Started")] });
      }
      await store.append({
        streamId: bornDone,
        aggregateType: type,
        expectedVersion: 0,
        events: [event("Started"), event("Done")],
        final: true,
      });
      await store.append({
        streamId: done,
        aggregateType: type,
        expectedVersion: 1,
        events: [event("Done")],
        final: true,
      });
      const listed: string[] = [];
      for await (const id of store.nonFinalStreams(type)) listed.push(id);
      expect(listed.sort()).toEqual([open1, open2].sort());
      expect(await store.streamInfo(done)).toMatchObject({ version: 2, final: true });
      expect(await store.streamInfo(bornDone)).toMatchObject({ version: 2, final: true });
      expect(await store.streamInfo(open1)).toMatchObject({ aggregateType: type, version: 1, final: false });
    });

    test("keeps the newest snapshot", async () => {
      const store = await connect();
      const streamId = newStream();
      expect(await store.loadSnapshot(streamId)).toBeUndefined();
      await store.saveSnapshot({ streamId, version: 20, snapshotVersion: 1, state: { balance: 20 } });
      await store.saveSnapshot({ streamId, version: 10, snapshotVersion: 1, state: { balance: 10 } });
      expect(await store.loadSnapshot(streamId)).toEqual({
        streamId,
        version: 20,
        snapshotVersion: 1,
        state: { balance: 20 },
      });
    });

    test("checkpoints are durable named cursors", async () => {
      const store = await connect();
      const name = `relay-${newStream()}`;
      expect(await store.loadCheckpoint(name)).toBeUndefined();
      await store.saveCheckpoint(name, "41");
      await store.saveCheckpoint(name, "42");
      expect(await store.loadCheckpoint(name)).toBe("42");
      expect(await (await connect()).loadCheckpoint(name)).toBe("42");
    });

    test("a lease has one holder at a time, until it expires or is released", async () => {
      const a = await connect();
      const b = await connect();
      const name = `lease-${newStream()}`;
      expect(await a.tryLease(name, "a", 60_000)).toBe(true);
      expect(await b.tryLease(name, "b", 60_000)).toBe(false);
      expect(await a.tryLease(name, "a", 60_000)).toBe(true);
      await a.releaseLease(name, "a");
      expect(await b.tryLease(name, "b", 50)).toBe(true);
      expect(await a.tryLease(name, "a", 60_000)).toBe(false);
      await Bun.sleep(80);
      expect(await a.tryLease(name, "a", 60_000)).toBe(true);
    });

    test("what was acknowledged is there after closing and reopening", async () => {
      const first = await open();
      const streamId = newStream();
      await first.append({
        streamId,
        aggregateType: "conformance",
        expectedVersion: 0,
        events: [event("Kept")],
      });
      await first.close();
      const second = await connect();
      expect((await second.readStream(streamId)).map((e) => e.type)).toEqual(["Kept"]);
    });
  });
};
