import type { LedgerKey, LedgerLeaf, LedgerStore, SignedHead } from "../store/ledger-store.ts";
import { envelopeLeaf } from "./leaf.ts";
import type { LedgerSource } from "./ledger.ts";
import {
  consistencyProof,
  equalHashes,
  Frontier,
  fromHex,
  type Hash,
  leafHash,
  rootOf,
  toHex,
  verifyConsistency,
} from "./merkle.ts";
import { fromBase64url, headText } from "./signing.ts";

/** An event as stored now, hashed as a leaf. */
export interface HashedEvent {
  readonly position: number;
  readonly hash: Hash;
}

/** What `verify` reads: the events as they are stored now, and the tree and heads kept beside them. */
export interface VerifySource
  extends Pick<LedgerStore, "treeExtent" | "ledgerLeaves" | "ledgerNodes" | "latestHead" | "ledgerKeys"> {
  /** The stored events after `after`, in position order, at most `limit`, each hashed as a leaf. */
  hashedEvents(after: number, limit: number): Promise<HashedEvent[]>;
  /**
   * The tree is extended after the append (MongoDB's sealer): events after its last leaf are not
   * sealed yet. Where the append extends it (SQLite), such an event was put there by other means.
   */
  readonly sealsLater: boolean;
}

/**
 * How the log departs from its tree, at the first place it does:
 * - `altered`: the event at the leaf's position is not the one the tree holds there;
 * - `missing`: the tree holds an event at a position where none is stored;
 * - `reordered`: the event stored there is one the tree holds at another position;
 * - `inserted`: an event is stored at a position the tree holds none at.
 */
export type BreakKind = "altered" | "missing" | "reordered" | "inserted";

export interface LedgerBreak {
  readonly kind: BreakKind;
  readonly position: number;
  /** The tree's leaf at (or after) that position. */
  readonly leafIndex: number;
  readonly detail: string;
}

/** A signed head, checked: its signature, and its root against the tree recomputed from the events. */
export interface CheckedHead {
  readonly head: SignedHead;
  /** Signed by a key the store lists, and the signature is good. */
  readonly signed: boolean;
  /** The root of the first `treeSize` events as stored now is the head's. */
  readonly matches: boolean;
  /** RFC 9162's consistency proof from the head's size to the tree's now checks out (for a saved head). */
  readonly consistent?: boolean;
}

export interface Verification {
  /** Events compared with their leaves. */
  readonly events: number;
  readonly treeSize: number;
  /** The root recomputed from the events (of the part compared, when broken). */
  readonly rootHash: string;
  /** The stored tree's nodes give that same root. */
  readonly nodesMatch: boolean;
  /** The latest head the store keeps. */
  readonly latest?: CheckedHead;
  /** The head the auditor brought (`--head`). */
  readonly saved?: CheckedHead;
  /** Events stored after the tree's last leaf (MongoDB: not sealed yet). */
  readonly unsealed: number;
  readonly break?: LedgerBreak;
}

/**
 * Whether the verification found the log whole and every head it checked good. A tree with no signed
 * head proves nothing (whoever could rewrite the events could rewrite the tree): it does not verify.
 */
export const verified = (v: Verification): boolean =>
  v.break === undefined &&
  v.nodesMatch &&
  (v.treeSize === 0 || v.latest !== undefined || v.saved !== undefined) &&
  [v.latest, v.saved].every((h) => h === undefined || (h.signed && h.matches && h.consistent !== false));

const CHUNK = 20_000;

/** Pages through an ordered source without an await per item. */
class Pager<T> {
  private page: T[] = [];
  private at = 0;
  private done = false;

  constructor(private readonly read: (last: T | undefined) => Promise<T[]>) {}

  async peek(): Promise<T | undefined> {
    if (this.at < this.page.length) return this.page[this.at];
    if (this.done) return undefined;
    const last = this.page.at(-1);
    this.page = await this.read(last);
    this.at = 0;
    if (this.page.length === 0) this.done = true;
    return this.page[0];
  }

  take(): void {
    this.at++;
  }
}

export const signatureIsGood = async (head: SignedHead, keys: readonly LedgerKey[]): Promise<boolean> => {
  const key = keys.find((k) => k.keyId === head.keyId);
  if (!key) return false;
  try {
    const publicKey = await crypto.subtle.importKey(
      "raw",
      fromBase64url(key.publicKey),
      { name: "Ed25519" },
      false,
      ["verify"],
    );
    return await crypto.subtle.verify(
      { name: "Ed25519" },
      publicKey,
      fromBase64url(head.signature),
      new TextEncoder().encode(headText(head.treeSize, head.rootHash, head.timestamp, head.keyId)),
    );
  } catch {
    return false;
  }
};

/** Finds which leaf holds `hash`, scanning the stored leaves (only once a break is found). */
const leafHolding = async (
  source: VerifySource,
  hash: Hash,
  size: number,
): Promise<LedgerLeaf | undefined> => {
  for (let from = 0; from < size; from += CHUNK) {
    for (const leaf of await source.ledgerLeaves(from, CHUNK)) if (equalHashes(leaf.hash, hash)) return leaf;
  }
  return undefined;
};

/**
 * Recomputes the tree from the events as stored now and compares it, leaf by leaf, with the tree kept
 * beside them, then checks the latest signed head (and one an auditor saved) against the recomputed
 * roots. Stops at the first break, naming its position and kind. `onProgress` is told how many of the
 * tree's leaves it has compared.
 */
export const verifyLedger = async (
  source: VerifySource,
  options: {
    readonly saved?: SignedHead;
    readonly onProgress?: (done: number, total: number) => void;
    /**
     * The keys a head must be signed by, known to the auditor (`--key`): without them, those the store
     * lists, which whoever can write the store can add to.
     */
    readonly trustedKeys?: readonly LedgerKey[];
  } = {},
): Promise<Verification> => {
  const extent = await source.treeExtent();
  const [latestHead, listed] = await Promise.all([source.latestHead(), source.ledgerKeys()]);
  const keys = options.trustedKeys ?? listed;
  const wanted = new Map<number, Hash>();
  const sizes = [latestHead?.treeSize, options.saved?.treeSize].filter((s): s is number => s !== undefined);
  const events = new Pager<HashedEvent>((last) => source.hashedEvents(last?.position ?? 0, CHUNK));
  const leaves = new Pager<LedgerLeaf>((last) =>
    last === undefined || last.index + 1 < extent.size
      ? source.ledgerLeaves((last?.index ?? -1) + 1, CHUNK)
      : Promise.resolve([]),
  );
  const recomputed = new Frontier();
  if (sizes.includes(0)) wanted.set(0, recomputed.root());
  let found: LedgerBreak | undefined;
  let compared = 0;
  options.onProgress?.(0, extent.size);
  for (;;) {
    const leaf = await leaves.peek();
    if (!leaf) break;
    const event = await events.peek();
    if (!event || event.position > leaf.position) {
      found = {
        kind: "missing",
        position: leaf.position,
        leafIndex: leaf.index,
        detail: `no event is stored at position ${leaf.position}, where the tree holds leaf ${leaf.index}`,
      };
      break;
    }
    if (event.position < leaf.position) {
      found = {
        kind: "inserted",
        position: event.position,
        leafIndex: leaf.index,
        detail: `an event is stored at position ${event.position}, where the tree holds none (its next leaf, ${leaf.index}, is at position ${leaf.position})`,
      };
      break;
    }
    if (!equalHashes(event.hash, leaf.hash)) {
      const holder = await leafHolding(source, event.hash, extent.size);
      found = holder
        ? {
            kind: "reordered",
            position: leaf.position,
            leafIndex: leaf.index,
            detail: `the event stored at position ${leaf.position} is the one the tree holds at position ${holder.position} (leaf ${holder.index})`,
          }
        : {
            kind: "altered",
            position: leaf.position,
            leafIndex: leaf.index,
            detail: `the event stored at position ${leaf.position} is not the one the tree holds there (leaf ${leaf.index}): its bytes changed`,
          };
      break;
    }
    recomputed.push(event.hash);
    if (sizes.includes(recomputed.size)) wanted.set(recomputed.size, recomputed.root());
    events.take();
    leaves.take();
    compared++;
    if (compared % CHUNK === 0) options.onProgress?.(compared, extent.size);
  }
  options.onProgress?.(compared, extent.size);
  let unsealed = 0;
  if (!found) {
    const next = await events.peek();
    if (next && !source.sealsLater)
      found = {
        kind: "inserted",
        position: next.position,
        leafIndex: extent.size,
        detail: `an event is stored at position ${next.position}, after the tree's last leaf, which every append extends`,
      };
    else for (let e = next; e; events.take(), e = await events.peek()) unsealed++;
  }
  const rootHash = recomputed.root();
  const nodesMatch =
    found === undefined &&
    equalHashes(await rootOf(extent.size, { nodes: (c) => source.ledgerNodes(c) }), rootHash);
  const check = async (head: SignedHead, saved: boolean): Promise<CheckedHead> => {
    const root = wanted.get(head.treeSize);
    const matches = root !== undefined && toHex(root) === head.rootHash;
    let consistent: boolean | undefined;
    if (saved) {
      consistent =
        matches &&
        found === undefined &&
        head.treeSize >= 1 &&
        head.treeSize <= extent.size &&
        verifyConsistency(
          head.treeSize,
          extent.size,
          fromHex(head.rootHash),
          rootHash,
          await consistencyProof(head.treeSize, extent.size, { nodes: (c) => source.ledgerNodes(c) }),
        );
    }
    return { head, signed: await signatureIsGood(head, keys), matches, ...(saved ? { consistent } : {}) };
  };
  return {
    events: compared,
    treeSize: extent.size,
    rootHash: toHex(rootHash),
    nodesMatch,
    ...(latestHead ? { latest: await check(latestHead, false) } : {}),
    ...(options.saved ? { saved: await check(options.saved, true) } : {}),
    unsealed,
    ...(found ? { break: found } : {}),
  };
};

/** A store as `verify` reads it: its events through `readAll`, each hashed as a leaf (MongoDB, memory). */
export const storeVerifySource = (store: LedgerSource, sealsLater: boolean): VerifySource => ({
  sealsLater,
  treeExtent: () => store.treeExtent(),
  ledgerLeaves: (from, limit) => store.ledgerLeaves(from, limit),
  ledgerNodes: (coords) => store.ledgerNodes(coords),
  latestHead: () => store.latestHead(),
  ledgerKeys: () => store.ledgerKeys(),
  hashedEvents: async (after, limit) =>
    (await store.readAll(after, limit)).map((e) => ({
      position: e.position,
      hash: leafHash(envelopeLeaf(e)),
    })),
});
