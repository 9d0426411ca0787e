/**
 * A map that forgets: an entry is kept at most `ms` after it was set, and at most `most` entries are
 * kept (at least 2; the oldest go first). Kept as two generations, each of half the time and half the room: once
 * the current one is full or half the time has passed it becomes the previous one, and the previous
 * one is dropped whole. So every operation is constant time, with no per-entry clock and no deletion
 * from the front of a map (a JavaScript Map skips its deleted slots when iterated from the start, so
 * evicting the oldest entry one at a time from a map that churns costs more the longer it runs).
 */
export class Recent<K, V> {
  private current = new Map<K, V>();
  private previous = new Map<K, V>();
  /** When the current generation's half of the time began. */
  private since: number;
  private readonly half: number;
  private readonly room: number;

  constructor(
    most: number,
    ms: number,
    private readonly now: () => number = Date.now,
  ) {
    this.half = Math.max(0, ms) / 2;
    this.room = Math.max(1, Math.floor(most / 2));
    this.since = now();
  }

  get(key: K): V | undefined {
    this.turn();
    return this.current.has(key) ? this.current.get(key) : this.previous.get(key);
  }

  set(key: K, value: V): void {
    this.turn();
    if (this.current.size >= this.room) {
      // Full before its time: it becomes the previous one (the time it began stays, so nothing in
      // it outlives `ms`).
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(key, value);
    // A value set again is the newest: the previous generation's copy must not come back.
    this.previous.delete(key);
  }

  delete(key: K): void {
    this.current.delete(key);
    this.previous.delete(key);
  }

  /** Drops every entry whose value `drop` says so of. */
  deleteWhere(drop: (value: V, key: K) => boolean): void {
    for (const map of [this.current, this.previous])
      for (const [key, value] of map) if (drop(value, key)) map.delete(key);
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  private turn(): void {
    const now = this.now();
    const elapsed = now - this.since;
    // A clock set back: what is kept cannot be told to be young enough, so it goes.
    if (elapsed < 0) {
      this.previous = new Map();
      this.current = new Map();
      this.since = now;
      return;
    }
    if (elapsed < this.half) return;
    if (elapsed < 2 * this.half) {
      this.previous = this.current;
      this.since += this.half;
    } else {
      this.previous = new Map();
      this.since = now;
    }
    this.current = new Map();
  }
}
