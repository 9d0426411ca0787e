/** What the outbox relay keeps beside the events: its progress, and who may publish. */
export interface RelayStore {
  /**
   * A named, durable cursor (the relay's progress): a position in the log, as a decimal integer. The
   * store hands out no position at or below one a cursor has passed, even after a restore brought
   * back events older than the cursor (MongoDB: the position counter is seeded past every cursor).
   */
  loadCheckpoint(name: string): Promise<string | undefined>;
  /**
   * Saves the cursor. With `fence` (the token of a lease), the save is refused with `FencedError` once
   * a newer token has saved it: a relay that lost its lease while paused cannot move the cursor.
   */
  saveCheckpoint(name: string, value: string, fence?: number): Promise<void>;
  /**
   * Takes or renews a named lease for `ttlMs`, judged by the store's clock (not the caller's): while
   * `owner` holds it, the answer is its fencing token, which grows each time the lease changes hands;
   * `undefined` when another holds it. Lets one of several relays publish at a time.
   */
  tryLease(name: string, owner: string, ttlMs: number): Promise<number | undefined>;
  releaseLease(name: string, owner: string): Promise<void>;
}

/** A checkpoint save fenced off: a newer lease holder has saved since. */
export class FencedError extends Error {
  override readonly name = "FencedError";
}
