import type { Database, Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Coord, Hash } from "../../ledger/merkle.ts";
import { Batcher, type BatcherOptions } from "../../lib/batcher.ts";
import type { StageObserver } from "../../observability/stages.ts";
import { tracing } from "../../observability/tracing.ts";
import type { EventEnvelope } from "../envelope.ts";
import { EventRing } from "../event-ring.ts";
import type { AppendRequest, AppendResult, ReadStreamOptions, StreamInfo } from "../event-store.ts";
import { StoreOverloadedError } from "../event-store.ts";
import type { LedgerKey, LedgerLeaf, SignedHead, TreeExtent } from "../ledger-store.ts";
import type { StoredOutcome } from "../outcome-store.ts";
import { FencedError } from "../relay-store.ts";
import type { Snapshot } from "../snapshot-store.ts";
import type { Store } from "../store.ts";
import { tracedWrite } from "../traced-writes.ts";
import { WriteHealth } from "../write-health.ts";
import { startCheckpointer } from "./checkpointer.ts";
import { LedgerReads } from "./ledger.ts";
import { type MigrationProgress, refuseEarliestFormat } from "./migrate.ts";
import type { EventRow } from "./schema.ts";
import { StreamHeads } from "./stream-heads.ts";
import {
  type HeadsFlush,
  openDatabase,
  type WriteOp,
  type WriteResult,
  type WrittenAppend,
} from "./writer.ts";
import { WriterClient } from "./writer-client.ts";

interface OutcomeRow {
  key: string;
  fingerprint: string;
  outcome: string;
}

export interface SqliteStoreOptions extends Partial<Omit<BatcherOptions, "weigh" | "onWaited">> {
  readonly path: string;
  /** Told where each write's time goes: `queue`, `send`, `write`, `fsync`, `hop`. */
  readonly onStage?: StageObserver;
  /** When the writer writes the stream heads it holds in memory to their table (see `HeadsFlush`). */
  readonly headsFlush?: HeadsFlush;
  /** Whether appends extend the ledger's tree (default true; off only to measure its cost). */
  readonly ledger?: boolean;
  /** Told how far the migration of a file of an earlier format is, when it opens one. */
  readonly onMigration?: MigrationProgress;
  /**
   * How often the WAL is copied into the database file (default 20 ms). Small, frequent checkpoints
   * keep each one's fsync short, and so the commits that wait behind it on the disk; the price is some
   * peak throughput (measured in docs/performance-log.md). 0: none, for a second connection in a
   * process whose first checkpoints the file.
   */
  readonly checkpointEveryMs?: number;
  /**
   * Told when writes start failing for a reason that outlasts a retry (a full disk, an I/O error), with
   * that reason, and with `undefined` once they work again: one call each per episode, for the log.
   */
  readonly onWritable?: (cause: string | undefined) => void;
  /**
   * How long writes must go without such a failure for the episode to end (default 2 s). On a full
   * disk the WAL goes on reusing the space it has, so some writes pass between the failures: one
   * success does not make the store healthy.
   */
  readonly healthyAfterMs?: number;
}

/**
 * SQLite's result codes for a file that cannot take writes now but may later: the disk is full, the
 * device failed, the file became read-only or another process holds the lock past the busy timeout.
 */
const unavailableCauses: Record<string, string> = {
  SQLITE_FULL: "no space left on the device",
  SQLITE_IOERR: "an I/O error",
  SQLITE_READONLY: "the file is read-only",
  SQLITE_CANTOPEN: "the file cannot be opened",
  SQLITE_BUSY: "another process holds the write lock",
};

const causeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string") return undefined;
  // Extended codes name the primary one first: SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED.
  const primary = Object.keys(unavailableCauses).find((c) => code === c || code.startsWith(`${c}_`));
  return primary && `${unavailableCauses[primary]} (${code})`;
};

const toEnvelope = (row: EventRow): EventEnvelope => ({
  eventId: row.event_id,
  streamId: row.stream_id,
  aggregateType: row.aggregate_type,
  type: row.type,
  version: row.version,
  schemaVersion: row.schema_version,
  time: new Date(row.time).toISOString(),
  data: JSON.parse(row.data),
  metadata: JSON.parse(row.metadata),
  position: row.position,
});

/**
 * The embedded event store: one SQLite file in WAL mode with `synchronous=FULL`, so a committed batch
 * is fsynced before any of its writers is answered. Writes are group-committed on a writer thread
 * (see `writer.ts`), so the fsync never blocks the event loop, and the WAL is checkpointed on a third
 * thread, so no commit waits for that; reads use this thread's own connection, which WAL lets run
 * beside the writer. Several processes may share the file.
 */
export class SqliteStore implements Store {
  readonly name = "sqlite";
  private readonly db: Database;
  private readonly writer: WriterClient;
  private readonly checkpointer: { stop(): void } | undefined;
  private readonly committer: Batcher<WriteOp, WriteResult>;
  private readonly sql: ReturnType<typeof prepare>;
  /** The events this process committed last. */
  private readonly tail = new EventRing(16_384);
  /** Each stream's last event, as this (reading) connection knows it. */
  private readonly heads: StreamHeads;
  private readonly health: WriteHealth;
  private readonly ledger: LedgerReads;

  constructor(options: SqliteStoreOptions) {
    mkdirSync(dirname(options.path), { recursive: true });
    refuseEarliestFormat(options.path);
    this.health = new WriteHealth(options.onWritable, options.healthyAfterMs);
    this.db = openDatabase(options.path, options.onMigration);
    this.sql = prepare(this.db);
    this.heads = new StreamHeads(this.db);
    this.ledger = new LedgerReads(this.db);
    const { onStage } = options;
    this.writer = new WriterClient(options.path, {
      onWritten:
        onStage &&
        ((leg) => {
          onStage("send", leg.sendMs, leg.size);
          onStage("write", leg.writeMs, leg.size);
          onStage("fsync", leg.commitMs, leg.size);
          onStage("hop", leg.hopMs, leg.size);
        }),
      onHeadsFlushed: (through) => this.heads.forgetThrough(through),
      headsFlush: options.headsFlush,
      ledger: options.ledger,
    });
    const checkpointEveryMs = options.checkpointEveryMs ?? 20;
    this.checkpointer =
      checkpointEveryMs > 0 ? startCheckpointer(options.path, checkpointEveryMs) : undefined;
    this.committer = new Batcher((batch) => this.writeBatch(batch), {
      maxBatch: options.maxBatch ?? 512,
      maxPending: options.maxPending ?? 20_000,
      full: () => new StoreOverloadedError("the write pipeline is full"),
      maxInFlight: options.maxInFlight ?? 2,
      onBatch: options.onBatch,
      onWaited: onStage && ((ms) => onStage("queue", ms)),
    });
  }

  /** One group commit: under a span while tracing is on. */
  private writeBatch(batch: readonly WriteOp[]): Promise<WriteResult[]> {
    const tracer = tracing();
    if (!tracer) return this.writer.write(batch);
    const appends = batch.flatMap((op) => (op.kind === "append" ? [op.request] : []));
    return tracedWrite(tracer, "sqlite", appends, batch.length, () => this.writer.write(batch));
  }

  /** Every write goes through here: the group committer, and the bookkeeping of write failures. */
  private async write(op: WriteOp): Promise<WriteResult> {
    try {
      const result = await this.committer.submit(op);
      this.health.succeeded();
      return result;
    } catch (error) {
      const cause = causeOf(error);
      if (cause === undefined) throw error;
      throw this.health.failed(cause, error);
    }
  }

  async append(request: AppendRequest): Promise<AppendResult> {
    const written = await this.write({ kind: "append", request });
    if (typeof written !== "object" || written === null || Array.isArray(written)) {
      throw new Error("append produced no result");
    }
    const { lastPosition, timeMs, ...result }: WrittenAppend = written;
    if (result.ok && lastPosition !== undefined && timeMs !== undefined) {
      const count = request.events.length;
      const head = {
        aggregateType: request.aggregateType,
        version: result.version,
        position: lastPosition,
        time: timeMs,
      };
      this.heads.noteAppended(request.streamId, head, count);
      for (const [i, event] of request.events.entries()) {
        this.tail.put({
          eventId: event.eventId,
          streamId: request.streamId,
          aggregateType: request.aggregateType,
          type: event.type,
          version: result.version - count + 1 + i,
          schemaVersion: event.schemaVersion,
          time: result.time,
          data: event.data,
          metadata: event.metadata,
          position: lastPosition - count + 1 + i,
        });
      }
    }
    return result;
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    await this.write({ kind: "snapshot", snapshot });
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<EventEnvelope[]> {
    this.heads.catchUp();
    const head = this.heads.get(streamId);
    const after = Math.max(0, options.after ?? 0);
    let end = Math.min(head?.version ?? 0, options.upTo ?? Number.MAX_SAFE_INTEGER);
    // Versions are 1, 2, 3…: a limit is an upper version.
    if (options.limit !== undefined && options.limit >= 0) end = Math.min(end, after + options.limit);
    if (!head || end <= after) return [];
    // The walk back starts at the first event at or above `end` that it can find without walking.
    const mark = end === head.version ? undefined : this.sql.markFrom.get(streamId, end);
    const start = mark ?? head;
    const rows = this.sql.walk.all(start.position, after, end);
    // Versions run 1, 2, 3…: a walk that found fewer than it should met a broken chain.
    if (rows.length !== end - after) {
      throw new Error(
        `${streamId}: versions ${after + 1}..${end} read ${rows.length} events; the stream's chain is broken`,
      );
    }
    return rows.map(toEnvelope);
  }

  async streamInfo(streamId: string): Promise<StreamInfo | undefined> {
    return this.readStreamInfo(streamId);
  }

  /** In one read transaction: the head and whether the stream is final are of the same commit. */
  private readonly readStreamInfo = (streamId: string): StreamInfo | undefined => {
    this.sql.beginRead.run();
    try {
      this.heads.catchUp();
      const head = this.heads.get(streamId);
      if (!head) return undefined;
      return {
        streamId,
        aggregateType: head.aggregateType,
        version: head.version,
        updatedAt: new Date(head.time).toISOString(),
        final: this.sql.open.get(head.aggregateType, streamId) === null,
      };
    } finally {
      this.sql.endRead.run();
    }
  };

  async readAll(after: number, limit: number): Promise<EventEnvelope[]> {
    return this.tail.read(after, limit) ?? this.sql.readAll.all(after, limit).map(toEnvelope);
  }

  async headPosition(): Promise<number> {
    return this.sql.head.get()?.position ?? 0;
  }

  async *nonFinalStreams(aggregateType: string): AsyncIterable<string> {
    for (const row of this.sql.nonFinalStreams.iterate(aggregateType)) yield row.stream_id;
  }

  async loadSnapshot(streamId: string): Promise<Snapshot | undefined> {
    const row = this.sql.snapshot.get(streamId);
    return row
      ? {
          streamId,
          version: row.version,
          snapshotVersion: row.snapshot_version,
          state: JSON.parse(row.state),
        }
      : undefined;
  }

  async findOutcome(key: string): Promise<StoredOutcome | undefined> {
    const row = this.sql.outcome.get(key);
    return row ? { key, fingerprint: row.fingerprint, outcome: JSON.parse(row.outcome) } : undefined;
  }

  async loadCheckpoint(name: string): Promise<string | undefined> {
    return this.sql.checkpoint.get(name)?.value;
  }

  /** Goes through the group committer, so it shares the next batch's fsync. */
  async saveCheckpoint(name: string, value: string, fence = 0): Promise<void> {
    if ((await this.write({ kind: "checkpoint", name, value, fence })) === false) {
      throw new FencedError(`${name}: saved under a newer lease`);
    }
  }

  async tryLease(name: string, owner: string, ttlMs: number): Promise<number | undefined> {
    const token = await this.write({ kind: "takeLease", name, owner, ttlMs });
    return typeof token === "number" ? token : undefined;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.write({ kind: "releaseLease", name, owner });
  }

  async treeExtent(): Promise<TreeExtent> {
    return this.ledger.extent();
  }

  /** The writer extends the tree in each append's transaction: it is always sealed. */
  async seal(): Promise<TreeExtent> {
    return this.ledger.extent();
  }

  async ledgerNodes(coords: readonly Coord[]): Promise<readonly Hash[]> {
    return this.ledger.nodes(coords);
  }

  async ledgerLeaves(fromIndex: number, limit: number): Promise<LedgerLeaf[]> {
    return this.ledger.leaves(fromIndex, limit);
  }

  async ledgerLeafAt(position: number): Promise<LedgerLeaf | undefined> {
    return this.ledger.leafAt(position);
  }

  async saveHead(head: SignedHead): Promise<void> {
    await this.write({ kind: "saveHead", head });
  }

  async latestHead(): Promise<SignedHead | undefined> {
    return this.ledger.latestHead();
  }

  async saveLedgerKey(key: LedgerKey): Promise<void> {
    await this.write({ kind: "saveLedgerKey", key });
  }

  async ledgerKeys(): Promise<LedgerKey[]> {
    return this.ledger.ledgerKeys();
  }

  /** Reads; and while writes have been failing, writes a row, so it says when they work again. */
  async ping(): Promise<void> {
    this.db.query("SELECT 1").get();
    if (!this.health.problem) return;
    await this.write({ kind: "probe" });
    const problem = this.health.problem;
    if (problem) throw problem;
  }

  async close(): Promise<void> {
    await this.committer.drain();
    await this.writer.close();
    this.checkpointer?.stop();
    this.db.close();
  }
}

const prepare = (db: Database) => ({
  beginRead: db.prepare("BEGIN"),
  endRead: db.prepare("COMMIT"),
  // A stream is final once it has left non_final_streams.
  open: db.prepare(
    "SELECT 1 AS open FROM non_final_streams WHERE aggregate_type = ? AND stream_id = ?",
  ) as Statement<{ open: number }, [string, string]>,
  markFrom: db.prepare(
    "SELECT version, position FROM stream_marks WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT 1",
  ) as Statement<{ version: number; position: number }, [string, number]>,
  // From an event of the stream back along `previous` to the first after `after`, then in order.
  walk: db.prepare(
    `WITH RECURSIVE chain(position) AS (
       SELECT ?1
       UNION ALL
       SELECT e.previous FROM events e JOIN chain c ON e.position = c.position
       WHERE e.version > ?2 + 1 AND e.previous > 0
     )
     SELECT e.* FROM chain c JOIN events e ON e.position = c.position
     WHERE e.version > ?2 AND e.version <= ?3 ORDER BY e.version`,
  ) as Statement<EventRow, [number, number, number]>,
  nonFinalStreams: db.prepare(
    "SELECT stream_id FROM non_final_streams WHERE aggregate_type = ?",
  ) as Statement<{ stream_id: string }, [string]>,
  readAll: db.prepare("SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?") as Statement<
    EventRow,
    [number, number]
  >,
  head: db.prepare("SELECT max(position) AS position FROM events") as Statement<
    { position: number | null },
    []
  >,
  snapshot: db.prepare("SELECT * FROM snapshots WHERE stream_id = ?") as Statement<
    { version: number; snapshot_version: number; state: string },
    [string]
  >,
  checkpoint: db.prepare("SELECT value FROM relay_checkpoints WHERE name = ?") as Statement<
    { value: string },
    [string]
  >,
  outcome: db.prepare("SELECT * FROM outcomes WHERE key = ?") as Statement<OutcomeRow, [string]>,
});
