import type { EventEnvelope } from "../store/envelope.ts";
import type { LedgerKey, LedgerStore, SignedHead } from "../store/ledger-store.ts";
import { envelopeLeaf } from "./leaf.ts";
import { consistencyProof, inclusionProof, leafHash, rootOf, toHex } from "./merkle.ts";
import { base64url, headText, type SigningKey } from "./signing.ts";

/** A proof asked of a tree the ledger does not have (a size beyond it, from > to): the caller's error. */
export class LedgerRangeError extends Error {
  override readonly name = "LedgerRangeError";
}

/** No event has that position, or it is not in the tree asked about (yet). */
export class LedgerLeafNotFoundError extends Error {
  override readonly name = "LedgerLeafNotFoundError";
}

export interface InclusionProof {
  readonly position: number;
  readonly leafIndex: number;
  readonly treeSize: number;
  /** The event's canonical bytes, base64url. */
  readonly leaf: string;
  readonly leafHash: string;
  readonly path: string[];
}

export interface ConsistencyProof {
  readonly from: number;
  readonly to: number;
  readonly path: string[];
}

/** What the ledger reads: the tree, and the log as stored (not as upcast: the leaf is what is stored). */
export type LedgerSource = LedgerStore & { readAll(after: number, limit: number): Promise<EventEnvelope[]> };

/**
 * Signed tree heads and proofs over the store's tree. A head is signed when asked for one and the tree
 * has grown since the last (so a client that just wrote gets a head that covers it, unless one was
 * signed within the last second), and every `intervalMs` while it grows; each is kept in the store, so every process serving the ledger answers
 * with the latest of any of them.
 */
export class Ledger {
  private signing: Promise<SignedHead> | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** When this process last signed: it signs at most once per `minSignIntervalMs`, however often asked. */
  private signedAt = Number.NEGATIVE_INFINITY;
  private readonly minSignIntervalMs: number;

  constructor(
    private readonly store: LedgerSource,
    private readonly key: SigningKey,
    private readonly now: () => Date = () => new Date(),
    options: { readonly minSignIntervalMs?: number } = {},
  ) {
    this.minSignIntervalMs = options.minSignIntervalMs ?? 1_000;
  }

  /** Records the public key (so heads it signs can be checked), then signs every `intervalMs`. */
  async start(intervalMs: number, onError: (error: unknown) => void): Promise<void> {
    await this.store.saveLedgerKey({
      keyId: this.key.keyId,
      algorithm: "Ed25519",
      publicKey: this.key.publicKey,
      since: this.now().toISOString(),
    });
    if (intervalMs > 0) {
      this.timer = setInterval(() => this.head().catch(onError), intervalMs);
      this.timer.unref?.();
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  keys(): Promise<LedgerKey[]> {
    return this.store.ledgerKeys();
  }

  /** The latest signed head, signing one first if the tree has grown past it. One signing at a time. */
  head(): Promise<SignedHead> {
    this.signing ??= this.signIfGrown().finally(() => {
      this.signing = undefined;
    });
    return this.signing;
  }

  private async signIfGrown(): Promise<SignedHead> {
    const extent = await this.store.seal();
    const latest = await this.store.latestHead();
    if (latest && latest.treeSize >= extent.size) return latest;
    // Asked again and again while the log grows, a reader gets the last head for up to a second
    // rather than a signature and a write of its own each time.
    if (latest && performance.now() - this.signedAt < this.minSignIntervalMs) return latest;
    this.signedAt = performance.now();
    const rootHash = toHex(await rootOf(extent.size, { nodes: (coords) => this.store.ledgerNodes(coords) }));
    const timestamp = this.now().toISOString();
    const head: SignedHead = {
      treeSize: extent.size,
      position: extent.position,
      rootHash,
      timestamp,
      keyId: this.key.keyId,
      signature: await this.key.sign(headText(extent.size, rootHash, timestamp, this.key.keyId)),
    };
    await this.store.saveHead(head);
    return head;
  }

  /** The event at `position` is in the tree of `treeSize` leaves (default: the latest head's). */
  async inclusion(position: number, treeSize?: number): Promise<InclusionProof> {
    const size = treeSize ?? (await this.head()).treeSize;
    const extent = await this.store.treeExtent();
    if (size < 1 || size > extent.size)
      throw new LedgerRangeError(`treeSize must be 1 to ${extent.size}, the tree's size now`);
    const leaf = await this.store.ledgerLeafAt(position);
    if (!leaf) throw new LedgerLeafNotFoundError(`no event at position ${position} is in the tree`);
    if (leaf.index >= size)
      throw new LedgerLeafNotFoundError(
        `the event at position ${position} is leaf ${leaf.index}: not in the tree of ${size}`,
      );
    const [event] = await this.store.readAll(position - 1, 1);
    if (event?.position !== position)
      throw new LedgerLeafNotFoundError(`no event is stored at position ${position}`);
    const bytes = envelopeLeaf(event);
    const path = await inclusionProof(leaf.index, size, {
      nodes: (coords) => this.store.ledgerNodes(coords),
    });
    return {
      position,
      leafIndex: leaf.index,
      treeSize: size,
      leaf: base64url(bytes),
      // The stored event's hash as it is now: a proof of an altered event does not check out.
      leafHash: toHex(leafHash(bytes)),
      path: path.map(toHex),
    };
  }

  /** The tree of `to` leaves extends the tree of `from` (RFC 9162's consistency proof). */
  async consistency(from: number, to: number): Promise<ConsistencyProof> {
    const extent = await this.store.treeExtent();
    if (from < 1 || from > to || to > extent.size)
      throw new LedgerRangeError(`1 <= from <= to <= ${extent.size} (the tree's size now) must hold`);
    const path = await consistencyProof(from, to, { nodes: (coords) => this.store.ledgerNodes(coords) });
    return { from, to, path: path.map(toHex) };
  }
}
