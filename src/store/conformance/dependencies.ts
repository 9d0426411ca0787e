import { describe, expect, test } from "bun:test";
import { clients, event, newStream, type OpenStore } from "./support.ts";

/**
 * Rules across aggregates (`AppendRequest.dependsOn`): an append that names other streams at the
 * versions its decision read goes only if each is still there, checked atomically with the append.
 */
export const describeDependencyConformance = (name: string, openStore: OpenStore) => {
  describe(`dependencies conformance: ${name}`, () => {
    const { connect } = clients(openStore);
    const append = (
      streamId: string,
      expectedVersion: number,
      dependsOn: { streamId: string; version: number }[],
    ) => ({
      streamId,
      aggregateType: "conformance",
      expectedVersion,
      events: [event("E")],
      dependsOn,
    });

    test("goes when each named stream is at the version named (0: no events); else refused whole, saying where that stream is", async () => {
      const store = await connect();
      const [a, b, nothing] = [newStream(), newStream(), newStream()];
      await store.append({
        streamId: b,
        aggregateType: "conformance",
        expectedVersion: 0,
        events: [event("B")],
      });
      expect(
        await store.append(
          append(a, 0, [
            { streamId: b, version: 1 },
            { streamId: nothing, version: 0 },
          ]),
        ),
      ).toMatchObject({
        ok: true,
        version: 1,
      });
      const key = `dependency-${newStream()}`;
      const stale = await store.append({
        ...append(a, 1, [{ streamId: b, version: 0 }]),
        outcomes: [{ key, fingerprint: "f", outcome: { kind: "accepted" } }],
      });
      expect(stale).toEqual({ ok: false, reason: "dependency_conflict", streamId: b, actualVersion: 1 });
      const ahead = await store.append(append(a, 1, [{ streamId: nothing, version: 3 }]));
      expect(ahead).toEqual({
        ok: false,
        reason: "dependency_conflict",
        streamId: nothing,
        actualVersion: 0,
      });
      // Nothing of the refused appends was written: neither their events nor their outcomes.
      expect(await store.readStream(a)).toHaveLength(1);
      expect(await store.findOutcome(key)).toBeUndefined();
    });

    test("an append of outcomes alone (a refusal kept under its key) is checked too", async () => {
      const store = await connect();
      const [a, b] = [newStream(), newStream()];
      await store.append({
        streamId: b,
        aggregateType: "conformance",
        expectedVersion: 0,
        events: [event("B")],
      });
      const key = `dependency-${newStream()}`;
      const outcomes = [{ key, fingerprint: "f", outcome: { kind: "rejected" } }];
      const stale = await store.append({
        ...append(a, 0, [{ streamId: b, version: 0 }]),
        events: [],
        outcomes,
      });
      expect(stale).toMatchObject({ ok: false, reason: "dependency_conflict", streamId: b });
      expect(await store.findOutcome(key)).toBeUndefined();
      const fresh = await store.append({
        ...append(a, 0, [{ streamId: b, version: 1 }]),
        events: [],
        outcomes,
      });
      expect(fresh).toMatchObject({ ok: true });
      expect(await store.findOutcome(key)).toMatchObject({ key });
    });

    // Write skew, the race a check made before the write would lose: each append reads the other's
    // stream as empty. Serialized, whichever goes first moves its stream, and the other is refused.
    test("two clients, two appends each naming the other's stream at 0, at once: never both written", async () => {
      const [one, two] = [await connect(), await connect()];
      let written = 0;
      for (let round = 0; round < 20; round++) {
        const [a, b] = [newStream(), newStream()];
        const results = await Promise.all([
          one.append(append(a, 0, [{ streamId: b, version: 0 }])),
          two.append(append(b, 0, [{ streamId: a, version: 0 }])),
        ]);
        const ok = results.filter((r) => r.ok).length;
        expect(ok).toBeLessThanOrEqual(1);
        for (const result of results) {
          if (!result.ok) expect(result).toMatchObject({ reason: "dependency_conflict" });
        }
        const streams = await Promise.all([one.readStream(a), one.readStream(b)]);
        expect(streams.flat()).toHaveLength(ok);
        written += ok;
      }
      // Not a suite that passes by refusing everything: most rounds write one of the two.
      expect(written).toBeGreaterThan(10);
    });
  });
};
