import { describe, expect, test } from "bun:test";
import { clients, event, newStream, type OpenStore } from "./support.ts";

/** The guarantees of the outcomes port (`OutcomeStore`): one outcome per key, for good, with or without events. */
export const describeOutcomeStoreConformance = (name: string, openStore: OpenStore) => {
  describe(`outcomes conformance: ${name}`, () => {
    const { connect } = clients(openStore);
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
  });
};
