import { describe, expect, test } from "bun:test";
import { clients, newStream, type OpenStore } from "./support.ts";

/** The guarantees of the snapshots port (`SnapshotStore`): the newest one is kept. */
export const describeSnapshotStoreConformance = (name: string, openStore: OpenStore) => {
  describe(`snapshots conformance: ${name}`, () => {
    const { connect } = clients(openStore);
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
  });
};
