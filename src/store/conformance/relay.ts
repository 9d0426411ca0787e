import { describe, expect, test } from "bun:test";
import { clients, newStream, type OpenStore } from "./support.ts";

/** The guarantees of the relay's port (`RelayStore`): durable checkpoints, and a lease with one holder. */
export const describeRelayStoreConformance = (name: string, openStore: OpenStore) => {
  describe(`relay conformance: ${name}`, () => {
    const { connect } = clients(openStore);
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
  });
};
