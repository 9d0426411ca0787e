import { describe, expect, test } from "bun:test";
import { AppendTooLargeError } from "../event-store.ts";
import type { Store } from "../store.ts";
import { clients, event, newStream, type OpenStore } from "./support.ts";

/** The guarantees of the events port (`EventStore`): atomic, optimistic, durable appends, and one global order. */
export const describeEventStoreConformance = (name: string, openStore: OpenStore) => {
  describe(`events conformance: ${name}`, () => {
    const { connect, open } = clients(openStore);
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
      const versions = async (o: Parameters<Store["readStream"]>[1]) =>
        (await store.readStream(streamId, o)).map((e) => e.version);
      expect(await versions({})).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(await versions({ after: 3, limit: 4 })).toEqual([4, 5, 6, 7]);
      expect(await versions({ upTo: 5 })).toEqual([1, 2, 3, 4, 5]);
      expect(await versions({ after: 10 })).toEqual([]);
      expect(await store.readStream("no-such-stream")).toEqual([]);
      expect(await store.streamInfo("no-such-stream")).toBeUndefined();
    });

    test("a long stream, its appends among other streams', reads the same from any version, by any range and page", async () => {
      const store = await connect();
      const [streamId, other] = [newStream(), newStream()];
      for (let v = 0; v < 300; v += 3) {
        await Promise.all([
          store.append({
            streamId,
            aggregateType: "conformance",
            expectedVersion: v,
            events: [event("E", { v: v + 1 }), event("E", { v: v + 2 }), event("E", { v: v + 3 })],
          }),
          store.append({
            streamId: other,
            aggregateType: "conformance",
            expectedVersion: v / 3,
            events: [event("O")],
          }),
        ]);
      }
      const all = await store.readStream(streamId);
      expect(all.map((e) => e.version)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(all.map((e) => (e.data as { v: number }).v)).toEqual(all.map((e) => e.version));
      const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
      for (const after of [0, 1, 63, 64, 65, 127, 128, 200, 299]) {
        const page = await store.readStream(streamId, { after, limit: 7 });
        expect(page.map((e) => e.version)).toEqual(range(after + 1, Math.min(300, after + 7)));
        expect(page).toEqual(all.slice(after, after + 7));
      }
      const upTo = await store.readStream(streamId, { after: 60, upTo: 130 });
      expect(upTo.map((e) => e.version)).toEqual(range(61, 130));
      expect(await store.streamInfo(streamId)).toMatchObject({ version: 300 });
      expect(await store.streamInfo(other)).toMatchObject({ version: 100 });
    });

    test("two clients of the same data: each reads the other's appends to a stream at once, and appends after them", async () => {
      const a = await connect();
      const b = await connect();
      const streamId = newStream();
      for (let v = 0; v < 6; v++) {
        const [writer, reader] = v % 2 === 0 ? [a, b] : [b, a];
        // The reader has seen the stream before: what it knows must not hide the other's append.
        expect((await reader.streamInfo(streamId))?.version ?? 0).toBe(v);
        const appended = await writer.append({
          streamId,
          aggregateType: "conformance",
          expectedVersion: v,
          events: [event("E", { v: v + 1 })],
        });
        expect(appended).toMatchObject({ ok: true, version: v + 1 });
        expect(await reader.streamInfo(streamId)).toMatchObject({ version: v + 1 });
        expect((await reader.readStream(streamId)).map((e) => e.version)).toEqual(
          Array.from({ length: v + 1 }, (_, i) => i + 1),
        );
        // The old version is refused by both: the one that wrote, and the one that only read.
        for (const client of [writer, reader]) {
          const stale = await client.append({
            streamId,
            aggregateType: "conformance",
            expectedVersion: v,
            events: [event("late")],
          });
          expect(stale).toEqual({ ok: false, reason: "version_conflict", actualVersion: v + 1 });
        }
      }
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
      const type = `proc${newStream().replaceAll("-", "")}`;
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

    test("readAll right after a clash: what was written behind the losing append is read at once", async () => {
      const store = await connect();
      const [a, clashing, b] = [newStream(), newStream(), newStream()];
      await store.append({
        streamId: clashing,
        aggregateType: "conformance",
        expectedVersion: 0,
        events: [event("X")],
      });
      const start = await store.headPosition();
      // One batch: the middle append loses its race; the positions it was given are never taken.
      const results = await Promise.all([
        store.append({ streamId: a, aggregateType: "conformance", expectedVersion: 0, events: [event("A")] }),
        store.append({
          streamId: clashing,
          aggregateType: "conformance",
          expectedVersion: 0,
          events: [event("Y")],
        }),
        store.append({ streamId: b, aggregateType: "conformance", expectedVersion: 0, events: [event("B")] }),
      ]);
      expect(results.map((r) => r.ok)).toEqual([true, false, true]);
      const read = await store.readAll(start, 100);
      expect(read.map((e) => e.type)).toEqual(["A", "B"]);
    });

    test("an append too large for the store fails alone; the others of its batch are written", async () => {
      const store = await connect();
      const [small1, huge, small2] = [newStream(), newStream(), newStream()];
      const results = await Promise.allSettled([
        store.append({
          streamId: small1,
          aggregateType: "conformance",
          expectedVersion: 0,
          events: [event("S")],
        }),
        store.append({
          streamId: huge,
          aggregateType: "conformance",
          expectedVersion: 0,
          events: [event("Huge", { blob: "x".repeat(17 * 1024 * 1024) })],
        }),
        store.append({
          streamId: small2,
          aggregateType: "conformance",
          expectedVersion: 0,
          events: [event("S")],
        }),
      ]);
      expect(results[0]).toMatchObject({ status: "fulfilled", value: { ok: true } });
      expect(results[2]).toMatchObject({ status: "fulfilled", value: { ok: true } });
      // A store with no such limit takes it; one with a limit refuses it whole, saying why, so that
      // the actor writes the commands batched with it apart.
      const hugeEvents = await store.readStream(huge);
      if (results[1]?.status === "fulfilled") expect(hugeEvents).toHaveLength(1);
      else {
        expect(results[1]?.reason).toBeInstanceOf(AppendTooLargeError);
        expect(hugeEvents).toEqual([]);
      }
    });
  });
};
