import { describe, expect, test } from "bun:test";
import type { StoredOutcome } from "../outcome-store.ts";
import type { Store } from "../store.ts";
import { clients, event, newStream, type OpenStore } from "./support.ts";

/** An append of outcomes alone: a refusal or a no-op, checked against the stream's version. */
const outcomesAlone = (store: Store, streamId: string, expectedVersion: number, outcomes: StoredOutcome[]) =>
  store.append({ streamId, aggregateType: "conformance", expectedVersion, events: [], outcomes });

/**
 * The guarantees of the outcomes port (`OutcomeStore`) with the appends that write them: one outcome
 * per key, for good, with events or without; outcomes without events are checked against the
 * stream's version like any append.
 */
export const describeOutcomeStoreConformance = (name: string, openStore: OpenStore) => {
  describe(`outcomes conformance: ${name}`, () => {
    const { connect } = clients(openStore);
    test("outcomes without events: the first one under a key is kept, and a later one is refused", async () => {
      const store = await connect();
      const streamId = newStream();
      const key = `standalone-${streamId}`;
      const refusal = { key, fingerprint: "f", outcome: { kind: "rejected", code: "insufficient_funds" } };
      expect(await outcomesAlone(store, streamId, 0, [refusal])).toMatchObject({ ok: true, version: 0 });
      expect(
        await outcomesAlone(store, streamId, 0, [{ key, fingerprint: "g", outcome: { kind: "accepted" } }]),
      ).toEqual({ ok: false, reason: "idempotency_conflict", key });
      expect(await store.findOutcome(key)).toEqual(refusal);
      expect(await store.findOutcome(`${key}-missing`)).toBeUndefined();
      expect(await store.readStream(streamId)).toEqual([]);
    });

    test("outcomes without events decided on a stale version are refused, not kept", async () => {
      const store = await connect();
      const streamId = newStream();
      await store.append({
        streamId,
        aggregateType: "conformance",
        expectedVersion: 0,
        events: [event("A")],
      });
      const key = `stale-${streamId}`;
      const stale = await outcomesAlone(store, streamId, 0, [
        { key, fingerprint: "f", outcome: { kind: "rejected" } },
      ]);
      expect(stale).toEqual({ ok: false, reason: "version_conflict", actualVersion: 1 });
      expect(await store.findOutcome(key)).toBeUndefined();
    });

    test("one key, one outcome: an append under a key that holds a stored refusal is refused whole", async () => {
      const store = await connect();
      const streamId = newStream();
      const key = `refused-${streamId}`;
      const refusal = { key, fingerprint: "f", outcome: { kind: "rejected", code: "insufficient_funds" } };
      await outcomesAlone(store, newStream(), 0, [refusal]);
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

    test("two appends to two streams under one key at once: exactly one is written", async () => {
      const store = await connect();
      const key = `race-${newStream()}`;
      const [first, second] = [newStream(), newStream()];
      const results = await Promise.all(
        [first, second].map((streamId) =>
          store.append({
            streamId,
            aggregateType: "conformance",
            expectedVersion: 0,
            events: [event("Opened")],
            outcomes: [{ key, fingerprint: "f", outcome: { kind: "accepted", id: streamId } }],
          }),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok)).toEqual([{ ok: false, reason: "idempotency_conflict", key }]);
      const written = (await store.readStream(first)).length + (await store.readStream(second)).length;
      expect(written).toBe(1);
    });
  });
};
