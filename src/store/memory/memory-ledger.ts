import { envelopeLeaf } from "../../ledger/leaf.ts";
import { type Coord, Frontier, type Hash, leafHash } from "../../ledger/merkle.ts";
import type { EventEnvelope } from "../envelope.ts";
import {
  type LedgerKey,
  type LedgerLeaf,
  LedgerNodeMissingError,
  type SignedHead,
  type TreeExtent,
} from "../ledger-store.ts";

/** The tree of a memory store's data: extended as each event is appended. */
export class MemoryLedger {
  private readonly frontier = new Frontier();
  readonly leaves: LedgerLeaf[] = [];
  private readonly nodes = new Map<string, Hash>();
  readonly heads = new Map<number, SignedHead>();
  readonly keys = new Map<string, LedgerKey>();

  add(envelope: EventEnvelope): void {
    for (const { coord, hash } of this.frontier.push(leafHash(envelopeLeaf(envelope)))) {
      if (coord.level === 0) this.leaves.push({ index: coord.index, position: envelope.position, hash });
      else this.nodes.set(`${coord.level}/${coord.index}`, hash);
    }
  }

  extent(): TreeExtent {
    return { size: this.leaves.length, position: this.leaves.at(-1)?.position ?? 0 };
  }

  node({ level, index }: Coord): Hash {
    const hash = level === 0 ? this.leaves[index]?.hash : this.nodes.get(`${level}/${index}`);
    if (!hash) throw new LedgerNodeMissingError(`the ledger holds no node ${level}/${index}`);
    return hash;
  }

  latestHead(): SignedHead | undefined {
    let latest: SignedHead | undefined;
    for (const head of this.heads.values()) if (!latest || head.treeSize > latest.treeSize) latest = head;
    return latest;
  }
}
