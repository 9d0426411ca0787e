import type { Coord, Hash } from "../ledger/merkle.ts";

/** How far the tree reaches: how many events are its leaves, and the position of the last (0: none). */
export interface TreeExtent {
  readonly size: number;
  readonly position: number;
}

/** One leaf: the event at `position` is the tree's `index`-th leaf, hashed to `hash`. */
export interface LedgerLeaf {
  readonly index: number;
  readonly position: number;
  readonly hash: Hash;
}

/** A tree head signed with Ed25519, as `GET /v1/ledger/head` serves it. */
export interface SignedHead {
  readonly treeSize: number;
  /** The position of the tree's last event (0 for the empty tree). */
  readonly position: number;
  /** Lowercase hex. */
  readonly rootHash: string;
  /** ISO 8601 UTC, exactly as signed. */
  readonly timestamp: string;
  readonly keyId: string;
  /** base64url, no padding. */
  readonly signature: string;
}

/** A key that signed heads: kept for good, so a head signed before a key rotation still verifies. */
export interface LedgerKey {
  readonly keyId: string;
  readonly algorithm: "Ed25519";
  /** The raw 32 bytes, base64url without padding. */
  readonly publicKey: string;
  /** When it was first used. */
  readonly since: string;
}

/**
 * The Merkle tree over the event log (RFC 9162), beside the events: each stored event, in position
 * order, is a leaf, and every complete subtree's hash is kept, so a proof reads O(log n) rows instead
 * of hashing the log. Guarantees every adapter gives (`conformance/ledger.ts` says each in a test):
 * - once `seal` has returned, every event then readable through `readAll` is a leaf, in position order,
 *   whose hash is that of its canonical bytes as stored (`src/ledger/leaf.ts`);
 * - a leaf or a node, once stored, never changes: a tree of size n is the first n leaves of every
 *   later tree, so a head signed today is proven consistent with every later one;
 * - the tree never depends on the order in which a reader saw events (SQLite, memory: extended inside
 *   the append; MongoDB: by a sealer up to the position below which no event can still land).
 */
export interface LedgerStore {
  /** Where the tree reaches now. */
  treeExtent(): Promise<TreeExtent>;
  /** Extends the tree over every event that can no longer be preceded by another; where it reaches. */
  seal(): Promise<TreeExtent>;
  /** The hashes of complete subtrees (level 0: leaves), in the order asked; each must be within the tree. */
  ledgerNodes(coords: readonly Coord[]): Promise<readonly Hash[]>;
  /** Leaves from `fromIndex` on, in order, at most `limit`. */
  ledgerLeaves(fromIndex: number, limit: number): Promise<LedgerLeaf[]>;
  /** The leaf of the event at `position`, if that event is in the tree. */
  ledgerLeafAt(position: number): Promise<LedgerLeaf | undefined>;
  /** Keeps a signed head; one per tree size (a second for the same size is ignored). */
  saveHead(head: SignedHead): Promise<void>;
  /** The signed head of the largest tree. */
  latestHead(): Promise<SignedHead | undefined>;
  /** Keeps a public key; one per key id (the first `since` stays). */
  saveLedgerKey(key: LedgerKey): Promise<void>;
  ledgerKeys(): Promise<LedgerKey[]>;
}

/** The tree was asked for a node it does not hold: beyond its size, or lost (see `ledger verify`). */
export class LedgerNodeMissingError extends Error {
  override readonly name = "LedgerNodeMissingError";
}
