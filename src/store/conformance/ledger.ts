import { describe, expect, test } from "bun:test";
import { envelopeLeaf } from "../../ledger/leaf.ts";
import {
  consistencyProof,
  Frontier,
  inclusionProof,
  leafHash,
  rootOf,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from "../../ledger/merkle.ts";
import type { Store } from "../store.ts";
import { clients, event, newStream, type OpenStore } from "./support.ts";

const source = (store: Store) => ({
  nodes: (coords: Parameters<Store["ledgerNodes"]>[0]) => store.ledgerNodes(coords),
});

/** The tree recomputed from the log as `readAll` serves it: what an auditor would compute. */
const recompute = async (store: Store, upTo: number) => {
  const frontier = new Frontier();
  for (let after = 0; frontier.size < upTo; ) {
    const page = await store.readAll(after, 1_000);
    if (page.length === 0) break;
    for (const e of page) {
      if (frontier.size === upTo) break;
      frontier.push(leafHash(envelopeLeaf(e)));
      after = e.position;
    }
  }
  return frontier;
};

/**
 * The guarantees of the ledger's port (`LedgerStore`): every event a leaf, in position order, hashed as
 * stored; a tree that only grows; heads and keys kept. The data may be shared with other runs (a
 * MongoDB database), so each test reasons about the tree as it finds it, and about its own events.
 */
export const describeLedgerStoreConformance = (name: string, openStore: OpenStore) => {
  describe(`ledger conformance: ${name}`, () => {
    const { connect } = clients(openStore);

    test("once sealed, every event is a leaf in position order, hashed from its bytes as stored, and the stored nodes give the tree's root", async () => {
      const store = await connect();
      const streamId = newStream();
      await store.append({
        streamId,
        aggregateType: "ledger",
        expectedVersion: 0,
        events: [
          event("Opened", { owner: "Zoë ✓", note: 'quotes " and \\ and \u0001' }),
          event("Moved", { n: 1 }),
        ],
      });
      await store.append({
        streamId,
        aggregateType: "ledger",
        expectedVersion: 2,
        events: [event("Moved", { n: 2.5 })],
      });
      const extent = await store.seal();
      const mine = (await store.readStream(streamId)).map((e) => e.position);
      expect(mine).toHaveLength(3);
      for (const position of mine) {
        const leaf = await store.ledgerLeafAt(position);
        expect(leaf?.position).toBe(position);
        const [stored] = await store.readAll(position - 1, 1);
        if (!stored || !leaf) throw new Error(`no event or leaf at ${position}`);
        expect(toHex(leaf.hash)).toBe(toHex(leafHash(envelopeLeaf(stored))));
        expect(leaf.index).toBeLessThan(extent.size);
      }
      // Leaves in position order: the indexes of our events grow with their positions.
      const indexes = await Promise.all(mine.map(async (p) => (await store.ledgerLeafAt(p))?.index ?? -1));
      expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
      // The whole tree, recomputed from the log as read, is the tree the store keeps.
      const recomputed = await recompute(store, extent.size);
      expect(recomputed.size).toBe(extent.size);
      expect(toHex(await rootOf(extent.size, source(store)))).toBe(toHex(recomputed.root()));
      expect(extent.position).toBe(Math.max(...mine, extent.position));
    });

    test("proofs from the stored nodes check out: each event is in the tree, and a later tree extends an earlier one", async () => {
      const store = await connect();
      const streamId = newStream();
      await store.append({ streamId, aggregateType: "ledger", expectedVersion: 0, events: [event("A")] });
      const before = await store.seal();
      const beforeRoot = await rootOf(before.size, source(store));
      for (let v = 1; v <= 5; v++)
        await store.append({
          streamId,
          aggregateType: "ledger",
          expectedVersion: v,
          events: [event("B", { v })],
        });
      const after = await store.seal();
      expect(after.size).toBeGreaterThanOrEqual(before.size + 5);
      const afterRoot = await rootOf(after.size, source(store));
      const path = await consistencyProof(before.size, after.size, source(store));
      expect(verifyConsistency(before.size, after.size, beforeRoot, afterRoot, path)).toBe(true);
      for (const e of await store.readStream(streamId)) {
        const leaf = await store.ledgerLeafAt(e.position);
        if (!leaf) throw new Error(`no leaf for ${e.position}`);
        const proof = await inclusionProof(leaf.index, after.size, source(store));
        expect(verifyInclusion(leafHash(envelopeLeaf(e)), leaf.index, after.size, proof, afterRoot)).toBe(
          true,
        );
      }
      // The stored leaves page in index order.
      const page = await store.ledgerLeaves(Math.max(0, after.size - 3), 10);
      expect(page.map((l) => l.index)).toEqual(
        Array.from({ length: Math.min(3, after.size) }, (_, i) => Math.max(0, after.size - 3) + i),
      );
    });

    test("a refused append adds no leaf", async () => {
      const store = await connect();
      const streamId = newStream();
      await store.append({ streamId, aggregateType: "ledger", expectedVersion: 0, events: [event("A")] });
      const before = await store.seal();
      const refused = await store.append({
        streamId,
        aggregateType: "ledger",
        expectedVersion: 0,
        events: [event("A")],
      });
      expect(refused.ok).toBe(false);
      const after = await store.seal();
      const recomputed = await recompute(store, after.size);
      expect(toHex(await rootOf(after.size, source(store)))).toBe(toHex(recomputed.root()));
      expect(after.size).toBeGreaterThanOrEqual(before.size);
    });

    test("signed heads are kept one per tree size, the largest served as the latest; keys are kept once each", async () => {
      const store = await connect();
      const extent = await store.seal();
      const size = extent.size + 1_000_000_000 + Math.floor(Math.random() * 1_000_000);
      const head = {
        treeSize: size,
        position: size,
        rootHash: "ab".repeat(32),
        timestamp: new Date().toISOString(),
        keyId: `k-${newStream()}`,
        signature: "c2ln",
      };
      await store.saveHead(head);
      await store.saveHead({ ...head, signature: "b3RoZXI" });
      const latest = await (await connect()).latestHead();
      expect(latest?.treeSize).toBeGreaterThanOrEqual(size);
      if (latest?.treeSize === size) expect(latest).toEqual(head);
      const key = {
        keyId: head.keyId,
        algorithm: "Ed25519" as const,
        publicKey: "cHVi",
        since: head.timestamp,
      };
      await store.saveLedgerKey(key);
      await store.saveLedgerKey({ ...key, since: "2030-01-01T00:00:00.000Z" });
      const keys = await store.ledgerKeys();
      expect(keys.filter((k) => k.keyId === key.keyId)).toEqual([key]);
    });
  });
};
