import type { EventEnvelope } from "../envelope.ts";
import { type Collections, type EventsDoc, type TombstoneDoc, toEnvelope } from "./documents.ts";
import { insertTombstones } from "./tombstones.ts";

/**
 * Reads every commit in position order for the relay, and never passes a position silently. A
 * position with nothing visible there (a hole) is waited for: its writer may still land (a batch is
 * visible only once a majority has it, and batches may land out of order). Once this reader has seen
 * the hole for `graceMs`, by its own clock (so no clock skew between writer and reader counts), it takes
 * the hole's positions with a tombstone: a writer landing later collides on them and writes again at
 * new positions, so its events are published after all, never skipped. If the tombstone collides, the
 * writer landed meanwhile, and the next read sees it.
 */
export class HoleReader {
  /** Hole start → when this reader first saw it. */
  private readonly seen = new Map<number, number>();

  constructor(
    private readonly collections: Collections,
    private readonly graceMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async readAll(after: number, limit: number): Promise<EventEnvelope[]> {
    const cursor = this.collections.commits
      .find<EventsDoc | TombstoneDoc>({ lastPosition: { $gt: after } })
      .sort({ lastPosition: 1 })
      .hint("last_position");
    const out: EventEnvelope[] = [];
    let next = after + 1;
    try {
      for await (const commit of cursor) {
        if (commit.position > next && !(await this.passHole(next, commit.position - 1))) break;
        if (commit.kind === "events") {
          for (let i = 0; i < commit.events.length && out.length < limit; i++) {
            if (commit.position + i > after) out.push(toEnvelope(commit, i));
          }
        }
        next = commit.lastPosition + 1;
        if (out.length >= limit) break;
      }
    } finally {
      await cursor.close();
    }
    for (const start of this.seen.keys()) if (start < next) this.seen.delete(start);
    return out;
  }

  /** True once the hole [from, to] is tombstoned and may be passed; false while it is waited for. */
  private async passHole(from: number, to: number): Promise<boolean> {
    const now = this.now();
    const firstSeen = this.seen.get(from) ?? now;
    this.seen.set(from, firstSeen);
    if (now - firstSeen < this.graceMs) return false;
    if (!(await insertTombstones(this.collections, from, to))) return false;
    this.seen.delete(from);
    return true;
  }
}
