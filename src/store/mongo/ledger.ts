import type { AnyBulkWriteOperation, Collection } from "mongodb";
import { envelopeLeaf } from "../../ledger/leaf.ts";
import {
  type Coord,
  Frontier,
  fromHex,
  frontierCoords,
  type Hash,
  leafHash,
  toHex,
} from "../../ledger/merkle.ts";
import type { EventEnvelope } from "../envelope.ts";
import {
  type LedgerKey,
  type LedgerLeaf,
  LedgerNodeMissingError,
  type SignedHead,
  type TreeExtent,
} from "../ledger-store.ts";
import { type Collections, isDuplicateKey, onlyDuplicateKeys } from "./documents.ts";

/**
 * The tree's collections. Hashes are kept as lowercase hex strings: what the API serves, and no
 * question of how a driver version hands back binary data.
 * - `ledger_leaves`: `{ _id: leaf index, position, hash }`, unique on `position` too;
 * - `ledger_nodes`: `{ _id: "<level>/<index>", hash }` for levels 1 and up;
 * - `ledger_meta`: `{ _id: "tree", size, position }`, how far the tree reaches: leaves and nodes past
 *   `size` may be there (a sealer that failed after writing them), and are the same a later seal
 *   writes, so they are never read and never change;
 * - `ledger_heads`: `{ _id: tree size, … }`; `ledger_keys`: `{ _id: key id, … }`.
 */
export interface LedgerCollections {
  readonly leaves: Collection<{ _id: number; position: number; hash: string }>;
  readonly nodes: Collection<{ _id: string; hash: string }>;
  readonly meta: Collection<{ _id: string; size: number; position: number }>;
  readonly heads: Collection<Omit<SignedHead, "treeSize"> & { _id: number }>;
  readonly keys: Collection<Omit<LedgerKey, "keyId"> & { _id: string }>;
}

export const ledgerCollections = ({ commits }: Collections): LedgerCollections => {
  const db = commits.db;
  return {
    leaves: db.collection("ledger_leaves"),
    nodes: db.collection("ledger_nodes"),
    meta: db.collection("ledger_meta"),
    heads: db.collection("ledger_heads"),
    keys: db.collection("ledger_keys"),
  };
};

export const ensureLedgerIndexes = async ({ leaves }: LedgerCollections): Promise<void> => {
  await leaves.createIndex({ position: 1 }, { name: "position", unique: true });
};

const tree = "tree";

const unlessDuplicates = (error: unknown) => {
  if (!onlyDuplicateKeys(error)) throw error;
};

/** Leaves sealed per round: each round is two bulk writes and one update of the tree's extent. */
const sealChunk = 1_000;

/**
 * The tree over MongoDB's log. Appends land out of position order (a batch is visible once a majority
 * has it), so the tree is not extended by the append, but by a sealer: it reads events through the
 * same hole-aware reader the relay uses (`holes.ts`), which hands out a position only once nothing can
 * still land before it (the hole filled, or tombstoned after its grace), writes each new leaf and every
 * node it completes, and only then moves the tree's extent forward, by a compare-and-set on the size
 * it started from. The tree therefore lags the log by at most the hole grace plus the time between
 * seals. Several sealers may run (one per edge process): each computes the same leaves from the same
 * ordered log, a node is inserted only where absent, and of two sealers racing from one size the
 * compare-and-set lets one through; the other's work is identical, so nothing is lost or changed. A
 * failover between the nodes' writes and the extent's leaves the extent where it was, and the next
 * seal goes on from there (the writes are journaled on a majority before the extent moves).
 */
export class MongoLedger {
  private sealing: Promise<{ extent: TreeExtent; more: boolean }> | undefined;

  constructor(
    private readonly c: LedgerCollections,
    private readonly readAll: (after: number, limit: number) => Promise<EventEnvelope[]>,
  ) {}

  async extent(): Promise<TreeExtent> {
    const doc = await this.c.meta.findOne({ _id: tree });
    return { size: doc?.size ?? 0, position: doc?.position ?? 0 };
  }

  /**
   * Seals at most `rounds` chunks of events: bounded, so that each call answers within the store's
   * deadline however long the log still to seal (a store written before the tree had none). One seal
   * at a time in this process; a caller during one waits for it. `more`: there may be more to seal.
   */
  seal(rounds: number): Promise<{ extent: TreeExtent; more: boolean }> {
    this.sealing ??= this.sealSome(rounds).finally(() => {
      this.sealing = undefined;
    });
    return this.sealing;
  }

  private async sealSome(rounds: number): Promise<{ extent: TreeExtent; more: boolean }> {
    let extent = await this.extent();
    const hashes = await this.nodes(frontierCoords(extent.size));
    const frontier = Frontier.restore(extent.size, hashes);
    for (let round = 0; round < rounds; round++) {
      const events = await this.readAll(extent.position, sealChunk);
      if (events.length === 0) return { extent, more: false };
      const leaves: AnyBulkWriteOperation<{ _id: number; position: number; hash: string }>[] = [];
      const nodes: AnyBulkWriteOperation<{ _id: string; hash: string }>[] = [];
      for (const event of events) {
        for (const { coord, hash } of frontier.push(leafHash(envelopeLeaf(event)))) {
          const hex = toHex(hash);
          if (coord.level === 0) {
            leaves.push({
              updateOne: {
                filter: { _id: coord.index },
                update: { $setOnInsert: { position: event.position, hash: hex } },
                upsert: true,
              },
            });
          } else {
            nodes.push({
              updateOne: {
                filter: { _id: `${coord.level}/${coord.index}` },
                update: { $setOnInsert: { hash: hex } },
                upsert: true,
              },
            });
          }
        }
      }
      // Another sealer may have inserted some of them first: the same bytes, so its stand.
      await this.c.leaves.bulkWrite(leaves, { ordered: false }).catch(unlessDuplicates);
      if (nodes.length > 0) await this.c.nodes.bulkWrite(nodes, { ordered: false }).catch(unlessDuplicates);
      const last = events.at(-1)?.position ?? extent.position;
      const next = { size: frontier.size, position: last };
      // Another sealer moved it first: its leaves are these; go on from where it is next time.
      if (!(await this.advance(extent.size, next))) return { extent: await this.extent(), more: true };
      extent = next;
    }
    return { extent, more: true };
  }

  /** Moves the extent from `from` to `next`; false when another sealer moved it first. */
  private async advance(from: number, next: TreeExtent): Promise<boolean> {
    try {
      const result = await this.c.meta.updateOne(
        { _id: tree, size: from },
        { $set: { size: next.size, position: next.position } },
        // The first seal makes the document; a second first seal collides on `_id`.
        { upsert: from === 0 },
      );
      return result.matchedCount === 1 || result.upsertedCount === 1;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  async nodes(coords: readonly Coord[]): Promise<Hash[]> {
    const leafIds = coords.filter((c) => c.level === 0).map((c) => c.index);
    const nodeIds = coords.filter((c) => c.level > 0).map((c) => `${c.level}/${c.index}`);
    const found = new Map<string, string>();
    if (leafIds.length > 0)
      for await (const leaf of this.c.leaves.find({ _id: { $in: leafIds } }))
        found.set(`0/${leaf._id}`, leaf.hash);
    if (nodeIds.length > 0)
      for await (const node of this.c.nodes.find({ _id: { $in: nodeIds } })) found.set(node._id, node.hash);
    return coords.map(({ level, index }) => {
      const hex = found.get(`${level}/${index}`);
      if (hex === undefined) throw new LedgerNodeMissingError(`the ledger holds no node ${level}/${index}`);
      return fromHex(hex);
    });
  }

  async leaves(fromIndex: number, limit: number): Promise<LedgerLeaf[]> {
    const { size } = await this.extent();
    const rows = await this.c.leaves
      .find({ _id: { $gte: fromIndex, $lt: size } })
      .sort({ _id: 1 })
      .limit(limit)
      .toArray();
    return rows.map((r) => ({ index: r._id, position: r.position, hash: fromHex(r.hash) }));
  }

  async leafAt(position: number): Promise<LedgerLeaf | undefined> {
    const [row, { size }] = await Promise.all([this.c.leaves.findOne({ position }), this.extent()]);
    return row && row._id < size
      ? { index: row._id, position: row.position, hash: fromHex(row.hash) }
      : undefined;
  }

  async saveHead({ treeSize, ...head }: SignedHead): Promise<void> {
    await this.c.heads
      .updateOne({ _id: treeSize }, { $setOnInsert: head }, { upsert: true })
      .catch((error) => {
        // Two edges signing the same size at once: the first head stays, and both are valid.
        if (!isDuplicateKey(error)) throw error;
      });
  }

  async latestHead(): Promise<SignedHead | undefined> {
    const doc = await this.c.heads.find().sort({ _id: -1 }).limit(1).next();
    if (!doc) return undefined;
    const { _id, position, rootHash, timestamp, keyId, signature } = doc;
    return { treeSize: _id, position, rootHash, timestamp, keyId, signature };
  }

  async saveKey({ keyId, ...key }: LedgerKey): Promise<void> {
    await this.c.keys.updateOne({ _id: keyId }, { $setOnInsert: key }, { upsert: true }).catch((error) => {
      if (!isDuplicateKey(error)) throw error;
    });
  }

  async keys(): Promise<LedgerKey[]> {
    const docs = await this.c.keys.find().sort({ since: 1, _id: 1 }).toArray();
    return docs.map(({ _id, publicKey, since }) => ({ keyId: _id, algorithm: "Ed25519", publicKey, since }));
  }
}
