import type { Database } from "bun:sqlite";

/** A stream's last event. */
export interface Head {
  readonly aggregateType: string;
  readonly version: number;
  readonly position: number;
  /** Milliseconds since the epoch. */
  readonly time: number;
}

interface HeadRow {
  stream_id: string;
  aggregate_type: string;
  version: number;
  position: number;
  time: number;
}

const toHead = (row: HeadRow): Head => ({
  aggregateType: row.aggregate_type,
  version: row.version,
  position: row.position,
  time: row.time,
});

/**
 * Each stream's last event, as one connection knows it: the `stream_heads` table, complete through
 * `heads_through`, and in memory the streams that moved after it. Every event up to `seenThrough` is
 * accounted for; `catchUp` reads the events appended since (by this process or another) from the end
 * of `events`, which is cheap: it is where they were appended. The writer keeps one under the write
 * lock, and from time to time writes its memory to the table (`flushSlice`); the readers keep another.
 *
 * In a write transaction, what is noted is staged, and kept only if the transaction commits.
 */
export class StreamHeads {
  private readonly recent = new Map<string, Head>();
  private staged: Map<string, Head> | undefined;
  private stagedThrough = 0;
  private seenThrough: number;
  /** A flush under way: the position it makes the table complete through, the streams to write, the next. */
  private flush: { readonly through: number; readonly streams: string[]; next: number } | undefined;
  private flushFrom = 0;
  /** The table's `heads_through` when memory was last pruned by it. */
  private forgottenThrough = 0;
  private readonly sql: ReturnType<typeof prepare>;

  constructor(db: Database) {
    this.sql = prepare(db);
    this.seenThrough = this.sql.headsThrough.get()?.value ?? 0;
    this.catchUp();
  }

  /** Streams held in memory (moved since the last flush, or since the table was last read). */
  get size(): number {
    return this.recent.size;
  }

  /** The stream's last event as of the last catch-up (and the writes staged since), if it has one. */
  get(streamId: string): Head | undefined {
    const head = this.staged?.get(streamId) ?? this.recent.get(streamId);
    if (head) return head;
    const row = this.sql.head.get(streamId);
    return row ? toHead(row) : undefined;
  }

  /**
   * Reads every event appended after `seenThrough`, and forgets what the table holds since another
   * process (or this one) last wrote the heads to it: a process that writes rarely beside a busy one
   * does not keep every stream the other moves.
   */
  catchUp(): void {
    const flushed = this.sql.headsThrough.get()?.value ?? 0;
    if (flushed > this.forgottenThrough) this.forgetThrough(flushed);
    // The table is complete through `flushed`: a connection that has not looked for long (the read
    // side's, between two gap fills) reads only the events after it, not all since it last looked.
    if (flushed > this.seenThrough) this.seenThrough = flushed;
    const last = this.sql.last.get()?.position ?? 0;
    if (last <= this.seenThrough) return;
    for (const row of this.sql.since.iterate(this.seenThrough, last))
      this.keep(this.recent, row.stream_id, toHead(row));
    this.seenThrough = last;
  }

  /**
   * An append this connection's process made, in position order. Without a write transaction (a
   * reader hearing of its writer's commit) it is kept at once; the events before it that nobody
   * reported are read by the next catch-up.
   */
  noteAppended(streamId: string, head: Head, count: number): void {
    if (this.staged) {
      this.keep(this.staged, streamId, head);
      this.stagedThrough = head.position;
      return;
    }
    this.keep(this.recent, streamId, head);
    if (head.position - count === this.seenThrough) this.seenThrough = head.position;
  }

  /** A write transaction begins: what is noted from now on is staged. */
  begin(): void {
    this.staged = new Map();
    this.stagedThrough = this.seenThrough;
    this.flushFrom = this.flush?.next ?? 0;
  }

  commit(): void {
    for (const [streamId, head] of this.staged ?? []) this.keep(this.recent, streamId, head);
    this.seenThrough = this.stagedThrough;
    this.staged = undefined;
  }

  rollback(): void {
    this.staged = undefined;
    // The slice this transaction wrote is undone with it: the next goes again from where it began.
    if (this.flush) this.flush.next = this.flushFrom;
  }

  /** Whether a flush is under way (started, not yet through its last slice). */
  get flushing(): boolean {
    return this.flush !== undefined;
  }

  /**
   * Writes the next `slice` of the heads in memory to `stream_heads`, in the caller's write
   * transaction, starting a flush of all of them if none is under way. A flush goes a slice per batch
   * so that no commit carries the whole table; once its last slice is written it sets `heads_through`
   * and returns the position the table is then complete through (to `forgetThrough` after the commit).
   */
  flushSlice(slice: number): number | undefined {
    // In key order: a slice then touches a run of neighbouring leaves of the table, and each leaf is
    // written in one commit or two. Slices of keys in any order would touch most leaves every time.
    this.flush ??= { through: this.seenThrough, streams: [...this.recent.keys()].sort(), next: 0 };
    const flush = this.flush;
    const end = Math.min(flush.streams.length, flush.next + slice);
    for (; flush.next < end; flush.next++) {
      const streamId = flush.streams[flush.next] as string;
      const head = this.recent.get(streamId);
      if (head) this.sql.upsert.run(streamId, head.aggregateType, head.version, head.position, head.time);
    }
    if (flush.next < flush.streams.length) return undefined;
    this.sql.setHeadsThrough.run(flush.through);
    return flush.through;
  }

  /** The table is complete through `position` (a writer flushed): forgets what it holds. */
  forgetThrough(position: number): void {
    this.flush = undefined;
    this.forgottenThrough = Math.max(this.forgottenThrough, position);
    for (const [streamId, head] of this.recent) if (head.position <= position) this.recent.delete(streamId);
  }

  private keep(into: Map<string, Head>, streamId: string, head: Head): void {
    const known = into.get(streamId);
    if (!known || known.version < head.version) into.set(streamId, head);
  }
}

const prepare = (db: Database) => ({
  headsThrough: db.query<{ value: number }, []>("SELECT value FROM store_meta WHERE name = 'heads_through'"),
  head: db.query<HeadRow, [string]>("SELECT * FROM stream_heads WHERE stream_id = ?"),
  last: db.query<{ position: number | null }, []>("SELECT max(position) AS position FROM events"),
  since: db.query<HeadRow, [number, number]>(
    `SELECT stream_id, aggregate_type, version, position, time FROM events
     WHERE position > ? AND position <= ? ORDER BY position`,
  ),
  // Only ever forward: another process may have flushed a newer head of the same stream.
  upsert: db.query(
    `INSERT INTO stream_heads (stream_id, aggregate_type, version, position, time) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, position = excluded.position,
       time = excluded.time, aggregate_type = excluded.aggregate_type
     WHERE excluded.version > stream_heads.version`,
  ),
  setHeadsThrough: db.query("UPDATE store_meta SET value = max(value, ?) WHERE name = 'heads_through'"),
});
