import { describe, expect, test } from "bun:test";
import { pollUntil } from "../../lib/poll.ts";
import { FencedError } from "../relay-store.ts";
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

    test("a lease has one holder at a time, until it expires or is released; its token grows with each holder", async () => {
      const a = await connect();
      const b = await connect();
      const name = `lease-${newStream()}`;
      const first = await a.tryLease(name, "a", 60_000);
      expect(first).toBeNumber();
      expect(await b.tryLease(name, "b", 60_000)).toBeUndefined();
      // Renewing keeps the token.
      expect(await a.tryLease(name, "a", 60_000)).toBe(first);
      await a.releaseLease(name, "a");
      // Long enough to outlast the next call's round trip on a replica set (a write that waits for a
      // majority's journal), short enough to wait out.
      const second = await b.tryLease(name, "b", 500);
      expect(second).toBeGreaterThan(first ?? 0);
      expect(await a.tryLease(name, "a", 60_000)).toBeUndefined();
      // The store's clock decides when it expires: asked until it has.
      const third = await pollUntil(
        () => a.tryLease(name, "a", 60_000),
        (token) => token !== undefined,
        { timeoutMs: 5_000, intervalMs: 50 },
      );
      expect(third).toBeGreaterThan(second ?? 0);
    });

    test("a relay that lost its lease cannot move the checkpoint: its token is fenced off", async () => {
      const a = await connect();
      const b = await connect();
      const name = `fenced-${newStream()}`;
      const stale = (await a.tryLease(name, "a", 50)) ?? -1;
      await a.saveCheckpoint(name, "10", stale);
      const fresh =
        (await pollUntil(
          () => b.tryLease(name, "b", 60_000),
          (token) => token !== undefined,
          { timeoutMs: 5_000, intervalMs: 25 },
        )) ?? -1;
      await b.saveCheckpoint(name, "20", fresh);
      await expect(a.saveCheckpoint(name, "11", stale)).rejects.toThrow(FencedError);
      expect(await b.loadCheckpoint(name)).toBe("20");
    });
  });
};
