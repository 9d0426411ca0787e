import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { EventEnvelope } from "../envelope.ts";
import type {
  AppendRequest,
  AppendResult,
  EventStore,
  ReadStreamOptions,
  Snapshot,
  StoredReply,
  StreamInfo,
} from "../event-store.ts";
import { type GroupCommitOptions, GroupCommitter } from "../group-commit.ts";
import { schema } from "./schema.ts";
import { enableWal } from "./wal.ts";

interface EventRow {
  position: number;
  event_id: string;
  stream_id: string;
  aggregate_type: string;
  version: number;
  type: string;
  schema_version: number;
  time: number;
  data: string;
  metadata: string;
}

interface StreamRow {
  stream_id: string;
  aggregate_type: string;
  version: number;
  updated_at: number;
  final: number;
}

interface ReplyRow {
  key: string;
  fingerprint: string;
  status: number;
  body: string;
}

type WriteOp =
  | { readonly kind: "append"; readonly request: AppendRequest }
  | { readonly kind: "replies"; readonly replies: readonly StoredReply[] }
  | { readonly kind: "snapshot"; readonly snapshot: Snapshot }
  | { readonly kind: "checkpoint"; readonly name: string; readonly value: string };

export interface SqliteEventStoreOptions extends Partial<GroupCommitOptions> {
  readonly path: string;
}

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
 * is fsynced before any of its writers is answered. Several processes may share the file: each batch
 * is a `BEGIN IMMEDIATE` transaction that re-checks every stream's version under the write lock.
 */
export class SqliteEventStore implements EventStore {
  readonly name = "sqlite";
  private readonly db: Database;
  private readonly committer: GroupCommitter<WriteOp, AppendResult | undefined>;
  private readonly sql: ReturnType<typeof prepare>;

  constructor(options: SqliteEventStoreOptions) {
    mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path, { create: true, strict: true });
    // First, so that another process opening the same file makes us wait rather than fail.
    this.db.exec("PRAGMA busy_timeout = 10000");
    enableWal(this.db);
    this.db.exec("PRAGMA synchronous = FULL");
    this.db.exec(schema);
    this.sql = prepare(this.db);
    this.committer = new GroupCommitter((batch) => this.writeBatch(batch), {
      maxBatch: options.maxBatch ?? 512,
      maxPending: options.maxPending ?? 20_000,
      onBatch: options.onBatch,
    });
  }

  async append(request: AppendRequest): Promise<AppendResult> {
    const result = await this.committer.submit({ kind: "append", request });
    if (!result) throw new Error("append produced no result");
    return result;
  }

  async saveReplies(replies: readonly StoredReply[]): Promise<void> {
    if (replies.length > 0) await this.committer.submit({ kind: "replies", replies });
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    await this.committer.submit({ kind: "snapshot", snapshot });
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<EventEnvelope[]> {
    const rows = this.sql.readStream.all(
      streamId,
      options.after ?? 0,
      options.upTo ?? Number.MAX_SAFE_INTEGER,
      options.limit ?? -1,
    );
    return rows.map(toEnvelope);
  }

  async streamInfo(streamId: string): Promise<StreamInfo | undefined> {
    const row = this.sql.stream.get(streamId);
    return row
      ? {
          streamId: row.stream_id,
          aggregateType: row.aggregate_type,
          version: row.version,
          updatedAt: new Date(row.updated_at).toISOString(),
          final: row.final === 1,
        }
      : undefined;
  }

  async readAll(after: number, limit: number): Promise<EventEnvelope[]> {
    return this.sql.readAll.all(after, limit).map(toEnvelope);
  }

  async headPosition(): Promise<number> {
    return this.sql.head.get()?.position ?? 0;
  }

  async *openStreams(aggregateType: string): AsyncIterable<string> {
    for (const row of this.sql.openStreams.iterate(aggregateType)) yield row.stream_id;
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

  async findReply(key: string): Promise<StoredReply | undefined> {
    const row = this.sql.reply.get(key);
    return row
      ? { key, fingerprint: row.fingerprint, status: row.status, body: JSON.parse(row.body) }
      : undefined;
  }

  async loadCheckpoint(name: string): Promise<string | undefined> {
    return this.sql.checkpoint.get(name)?.value;
  }

  /** Goes through the group committer, so it shares the next batch's fsync. */
  async saveCheckpoint(name: string, value: string): Promise<void> {
    await this.committer.submit({ kind: "checkpoint", name, value });
  }

  async tryLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const row = this.sql.takeLease.get(name, owner, now + ttlMs, owner, now);
    return row?.owner === owner;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    this.sql.releaseLease.run(name, owner);
  }

  async ping(): Promise<void> {
    this.db.query("SELECT 1").get();
  }

  async close(): Promise<void> {
    await this.committer.drain();
    this.db.close();
  }

  /** One transaction for the whole batch; a savepoint per append so a clash only undoes its own writes. */
  private writeBatch(batch: readonly WriteOp[]): (AppendResult | undefined)[] {
    const now = Date.now();
    const time = new Date(now).toISOString();
    const results: (AppendResult | undefined)[] = [];
    this.db.exec("BEGIN IMMEDIATE");
    try {
      for (const op of batch) {
        if (op.kind === "append") results.push(this.appendOne(op.request, now, time));
        else if (op.kind === "replies") {
          for (const r of op.replies)
            this.sql.insertReplyIfAbsent.run(r.key, r.fingerprint, r.status, JSON.stringify(r.body));
          results.push(undefined);
        } else if (op.kind === "snapshot") {
          const s = op.snapshot;
          this.sql.upsertSnapshot.run(s.streamId, s.version, s.snapshotVersion, JSON.stringify(s.state));
          results.push(undefined);
        } else {
          this.sql.upsertCheckpoint.run(op.name, op.value);
          results.push(undefined);
        }
      }
      this.db.exec("COMMIT");
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
    return results;
  }

  private appendOne(request: AppendRequest, now: number, time: string): AppendResult {
    const actualVersion = this.sql.streamVersion.get(request.streamId)?.version ?? 0;
    if (actualVersion !== request.expectedVersion)
      return { ok: false, reason: "version_conflict", actualVersion };
    for (const reply of request.replies ?? []) {
      if (this.sql.reply.get(reply.key)) return { ok: false, reason: "idempotency_conflict", key: reply.key };
    }
    this.db.exec("SAVEPOINT append");
    try {
      let version = request.expectedVersion;
      for (const event of request.events) {
        version += 1;
        this.sql.insertEvent.run(
          event.eventId,
          request.streamId,
          request.aggregateType,
          version,
          event.type,
          event.schemaVersion,
          now,
          JSON.stringify(event.data),
          JSON.stringify(event.metadata),
        );
      }
      if (request.events.length > 0) {
        this.sql.upsertStream.run(
          request.streamId,
          request.aggregateType,
          version,
          now,
          request.final ? 1 : 0,
        );
      }
      for (const r of request.replies ?? []) {
        this.sql.insertReply.run(r.key, r.fingerprint, r.status, JSON.stringify(r.body));
      }
      this.db.exec("RELEASE append");
      return { ok: true, version, time };
    } catch (error) {
      this.db.exec("ROLLBACK TO append");
      this.db.exec("RELEASE append");
      // Another process won the race between our check and our insert.
      if (isUniqueViolation(error)) {
        const now = this.sql.streamVersion.get(request.streamId)?.version ?? 0;
        return { ok: false, reason: "version_conflict", actualVersion: now };
      }
      throw error;
    }
  }
}

const isUniqueViolation = (error: unknown): boolean =>
  error instanceof Error && /UNIQUE constraint failed/.test(error.message);

const prepare = (db: Database) => ({
  insertEvent: db.prepare(
    `INSERT INTO events (event_id, stream_id, aggregate_type, version, type, schema_version, time, data, metadata)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ),
  upsertStream: db.prepare(
    `INSERT INTO streams (stream_id, aggregate_type, version, updated_at, final) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at,
       final = excluded.final`,
  ),
  streamVersion: db.prepare("SELECT version FROM streams WHERE stream_id = ?") as Statement<
    { version: number },
    [string]
  >,
  stream: db.prepare("SELECT * FROM streams WHERE stream_id = ?") as Statement<StreamRow, [string]>,
  openStreams: db.prepare(
    "SELECT stream_id FROM streams WHERE aggregate_type = ? AND final = 0",
  ) as Statement<{ stream_id: string }, [string]>,
  readStream: db.prepare(
    `SELECT * FROM events WHERE stream_id = ? AND version > ? AND version <= ? ORDER BY version LIMIT ?`,
  ) as Statement<EventRow, [string, number, number, number]>,
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
  upsertSnapshot: db.prepare(
    `INSERT INTO snapshots (stream_id, version, snapshot_version, state) VALUES (?, ?, ?, ?)
     ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version,
       snapshot_version = excluded.snapshot_version, state = excluded.state
     WHERE excluded.version > snapshots.version`,
  ),
  checkpoint: db.prepare("SELECT value FROM checkpoints WHERE name = ?") as Statement<
    { value: string },
    [string]
  >,
  upsertCheckpoint: db.prepare(
    "INSERT INTO checkpoints (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
  ),
  // Takes a free or expired lease, or renews our own; RETURNING shows who holds it afterwards.
  takeLease: db.prepare(
    `INSERT INTO leases (name, owner, expires_at) VALUES (?1, ?2, ?3)
     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
     WHERE leases.owner = ?4 OR leases.expires_at < ?5
     RETURNING owner`,
  ) as Statement<{ owner: string }, [string, string, number, string, number]>,
  releaseLease: db.prepare("DELETE FROM leases WHERE name = ? AND owner = ?"),
  reply: db.prepare("SELECT * FROM replies WHERE key = ?") as Statement<ReplyRow, [string]>,
  insertReply: db.prepare("INSERT INTO replies (key, fingerprint, status, body) VALUES (?, ?, ?, ?)"),
  insertReplyIfAbsent: db.prepare(
    "INSERT INTO replies (key, fingerprint, status, body) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
  ),
});
