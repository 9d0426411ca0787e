import { Database } from "bun:sqlite";
import { leafText } from "../../ledger/leaf.ts";
import { leafHashOfText } from "../../ledger/merkle.ts";
import type { LegacySealing } from "../../privacy/legacy.ts";
import type { AppendRequest, AppendResult } from "../event-store.ts";
import type { LedgerKey, SignedHead } from "../ledger-store.ts";
import type { Snapshot } from "../snapshot-store.ts";
import { extendLedger, LedgerAppender, ledgerWrites } from "./ledger.ts";
import { bringToFormat, type MigrationProgress } from "./migrate.ts";
import { markEvery } from "./schema.ts";
import { StreamHeads } from "./stream-heads.ts";
import { enableWal } from "./wal.ts";

/** Everything that writes to the file: it all goes through one connection, on the writer thread. */
export type WriteOp =
  | { readonly kind: "append"; readonly request: AppendRequest }
  | { readonly kind: "snapshot"; readonly snapshot: Snapshot }
  | { readonly kind: "checkpoint"; readonly name: string; readonly value: string; readonly fence: number }
  | { readonly kind: "takeLease"; readonly name: string; readonly owner: string; readonly ttlMs: number }
  | { readonly kind: "releaseLease"; readonly name: string; readonly owner: string }
  | { readonly kind: "saveHead"; readonly head: SignedHead }
  | { readonly kind: "saveLedgerKey"; readonly key: LedgerKey }
  /** Writes a row, to learn whether the file takes writes again (after a full disk, say). */
  | { readonly kind: "probe" };

/** The checkpoint row a probe writes: a real write, so it needs the space any write needs. */
export const probeCheckpoint = "eventfold.store-probe";

/**
 * An append's result, with the position of its last event when it wrote any, and its time in
 * milliseconds (the stream heads keep it so; `time` is the same instant as the API shows it).
 */
export type WrittenAppend = AppendResult & { readonly lastPosition?: number; readonly timeMs?: number };

/**
 * An append's result; after `takeLease`, the fencing token if it is held (else null); after
 * `checkpoint`, whether it was saved (not fenced off); nothing for the others.
 */
export type WriteResult = WrittenAppend | boolean | number | null | undefined;

/**
 * Opens a connection with the settings every connection to the file needs, creating the schema, or
 * bringing a file of an earlier format to this one (see `migrate.ts`).
 */
export const openDatabase = (
  path: string,
  onMigration?: MigrationProgress,
  sealing?: LegacySealing,
): Database => {
  const db = new Database(path, { create: true, strict: true });
  // First, so that another process opening the same file makes us wait rather than fail.
  db.exec("PRAGMA busy_timeout = 10000");
  enableWal(db);
  db.exec("PRAGMA synchronous = FULL");
  bringToFormat(db, onMigration, sealing);
  return db;
};

/**
 * When the writer writes the stream heads it holds in memory to their table: this long after the
 * last time, or once it holds this many streams. Rarer is cheaper (a stream that moved several times
 * is written once, and more heads share a page), and costs memory and the events read at a restart.
 */
export interface HeadsFlush {
  readonly everyMs: number;
  readonly streams: number;
  /** Heads written per batch while a flush is under way: no one commit carries them all. */
  readonly slice: number;
}

export const defaultHeadsFlush: HeadsFlush = { everyMs: 2_000, streams: 20_000, slice: 1_000 };

/**
 * For a connection beside another that appends (the read side's, in the same process): it writes
 * checkpoints and leases, never the heads, which the appending one keeps. (Finite: it crosses to the
 * writer thread as JSON.)
 */
export const neverFlushHeads: HeadsFlush = {
  everyMs: Number.MAX_SAFE_INTEGER,
  streams: Number.MAX_SAFE_INTEGER,
  slice: 1_000,
};

/**
 * Writes batches of operations, each batch one `BEGIN IMMEDIATE` transaction. Under the write lock it
 * first reads the events other processes appended since its last batch, so the stream heads it checks
 * each append's expected version against are the file's own: several processes may share the file.
 * The commit is fsynced (`synchronous=FULL`) before the batch's results are returned.
 */
export class SqliteWriter {
  private readonly db: Database;
  private readonly sql: ReturnType<typeof prepare>;
  private readonly heads: StreamHeads;
  private readonly ledger: LedgerAppender;
  private readonly ledgerSql: ReturnType<typeof ledgerWrites>;
  private lastFlush = performance.now();
  /** The position `stream_heads` became complete through at the last batch, if it flushed. */
  lastFlushThrough: number | undefined;

  constructor(
    path: string,
    private readonly headsFlush: HeadsFlush = defaultHeadsFlush,
    /** Off: appends leave the tree as it is (see `EVENTFOLD_LEDGER_OFF`). */
    private readonly ledgerOn = true,
  ) {
    this.db = openDatabase(path);
    // Events appended while the tree was off are its leaves from now on, before any other append.
    if (ledgerOn) {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        extendLedger(this.db);
        this.db.exec("COMMIT");
      } catch (error) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw error;
      }
    }
    // The checkpointer thread keeps the WAL short; this is only the backstop should it fall behind.
    this.db.exec("PRAGMA wal_autocheckpoint = 16384");
    this.sql = prepare(this.db);
    this.heads = new StreamHeads(this.db);
    this.ledger = new LedgerAppender(this.db);
    this.ledgerSql = ledgerWrites(this.db);
  }

  close(): void {
    this.db.close();
  }

  /** How long the last batch's `COMMIT` took (where the WAL is fsynced), in milliseconds. */
  lastCommitMs = 0;

  /**
   * One transaction for the whole batch. Each append's checks come before any of its writes, so a
   * refused append leaves nothing behind and its neighbours are written.
   */
  write(batch: readonly WriteOp[]): WriteResult[] {
    const now = Date.now();
    const time = new Date(now).toISOString();
    const results: WriteResult[] = [];
    this.lastFlushThrough = undefined;
    // What other processes appended since the last batch is read before the lock too, so that the
    // read under the lock (which must be made there) holds it only for the last few.
    this.heads.catchUp();
    this.sql.begin.run();
    try {
      this.heads.catchUp();
      this.heads.begin();
      if (this.ledgerOn) this.ledger.begin();
      for (const op of batch) results.push(this.writeOne(op, now, time));
      const due =
        this.heads.size >= this.headsFlush.streams ||
        performance.now() - this.lastFlush >= this.headsFlush.everyMs;
      const flushedThrough =
        this.heads.flushing || due ? this.heads.flushSlice(this.headsFlush.slice) : undefined;
      const committing = performance.now();
      this.sql.commit.run();
      this.lastCommitMs = performance.now() - committing;
      if (flushedThrough !== undefined) {
        this.heads.forgetThrough(flushedThrough);
        this.lastFlush = performance.now();
        this.lastFlushThrough = flushedThrough;
      }
      this.heads.commit();
      this.ledger.commit();
    } catch (error) {
      this.heads.rollback();
      this.ledger.rollback();
      // Some errors (SQLITE_FULL, SQLITE_IOERR) end the transaction themselves: a ROLLBACK then would
      // fail too and hide the error that says what happened.
      if (this.db.inTransaction) this.sql.rollback.run();
      throw error;
    }
    return results;
  }

  private writeOne(op: WriteOp, now: number, time: string): WriteResult {
    switch (op.kind) {
      case "append":
        return this.append(op.request, now, time);
      case "probe":
        this.sql.saveCheckpoint.get(probeCheckpoint, time, 0);
        return undefined;
      case "snapshot": {
        const s = op.snapshot;
        this.sql.upsertSnapshot.run(s.streamId, s.version, s.snapshotVersion, JSON.stringify(s.state));
        return undefined;
      }
      case "checkpoint":
        return this.sql.saveCheckpoint.get(op.name, op.value, op.fence) !== null;
      case "takeLease": {
        const row = this.sql.takeLease.get(op.name, op.owner, now + op.ttlMs, now);
        return row?.owner === op.owner ? row.token : null;
      }
      case "releaseLease":
        this.sql.releaseLease.run(op.name, op.owner);
        return undefined;
      case "saveHead": {
        const h = op.head;
        this.ledgerSql.saveHead.run(h.treeSize, h.position, h.rootHash, h.timestamp, h.keyId, h.signature);
        return undefined;
      }
      case "saveLedgerKey": {
        const k = op.key;
        this.ledgerSql.saveKey.run(k.keyId, k.algorithm, k.publicKey, k.since);
        return undefined;
      }
    }
  }

  private append(request: AppendRequest, now: number, time: string): WrittenAppend {
    const head = this.heads.get(request.streamId);
    const actualVersion = head?.version ?? 0;
    if (actualVersion !== request.expectedVersion)
      return { ok: false, reason: "version_conflict", actualVersion };
    // Under the same write lock as the append: no other write to these streams can fall between.
    for (const { streamId, version } of request.dependsOn ?? []) {
      const at = this.heads.get(streamId)?.version ?? 0;
      if (at !== version) return { ok: false, reason: "dependency_conflict", streamId, actualVersion: at };
    }
    const keys = new Set<string>();
    for (const { key } of request.outcomes ?? []) {
      // One key twice in the same append is a clash with itself: refused here, not by the table.
      if (keys.has(key) || this.sql.outcome.get(key))
        return { ok: false, reason: "idempotency_conflict", key };
      keys.add(key);
    }
    // Checked above, under the write lock: what follows only adds rows; a failure of one (the disk)
    // fails the batch.
    let version = request.expectedVersion;
    let previous = head?.position ?? 0;
    for (const event of request.events) {
      version += 1;
      const data = JSON.stringify(event.data);
      const metadata = JSON.stringify(event.metadata);
      previous = Number(
        this.sql.insertEvent.run(
          event.eventId,
          request.streamId,
          request.aggregateType,
          version,
          event.type,
          event.schemaVersion,
          now,
          data,
          metadata,
          previous,
        ).lastInsertRowid,
      );
      // The leaf is made of the very text just stored.
      const leaf =
        this.ledgerOn &&
        leafText({
          eventId: event.eventId,
          streamId: request.streamId,
          aggregateType: request.aggregateType,
          version,
          type: event.type,
          schemaVersion: event.schemaVersion,
          time,
          data,
          metadata,
        });
      if (leaf) this.ledger.add(previous, leafHashOfText(leaf));
      if (version % markEvery === 0) this.sql.mark.run(request.streamId, version, previous);
    }
    const count = request.events.length;
    let lastPosition: number | undefined;
    if (count > 0) {
      lastPosition = previous;
      this.heads.noteAppended(
        request.streamId,
        { aggregateType: request.aggregateType, version, position: lastPosition, time: now },
        count,
      );
      // A stream is open from its first append until its final one; deposits touch neither.
      if (request.expectedVersion === 0 && !request.final)
        this.sql.openStream.run(request.aggregateType, request.streamId);
      else if (request.expectedVersion > 0 && request.final)
        this.sql.closeStream.run(request.aggregateType, request.streamId);
    }
    for (const o of request.outcomes ?? []) {
      this.sql.insertOutcome.run(o.key, o.fingerprint, JSON.stringify(o.outcome));
    }
    return { ok: true, version, time, lastPosition, timeMs: now };
  }
}

// Statements, transaction control included, are compiled once: a batch runs several per append.
const prepare = (db: Database) => ({
  begin: db.prepare("BEGIN IMMEDIATE"),
  commit: db.prepare("COMMIT"),
  rollback: db.prepare("ROLLBACK"),
  insertEvent: db.prepare(
    `INSERT INTO events (event_id, stream_id, aggregate_type, version, type, schema_version, time, data, metadata, previous)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ),
  mark: db.prepare("INSERT INTO stream_marks (stream_id, version, position) VALUES (?, ?, ?)"),
  openStream: db.prepare("INSERT INTO non_final_streams (aggregate_type, stream_id) VALUES (?, ?)"),
  closeStream: db.prepare("DELETE FROM non_final_streams WHERE aggregate_type = ? AND stream_id = ?"),
  outcome: db.query<{ outcome: string }, [string]>("SELECT outcome FROM outcomes WHERE key = ?"),
  upsertSnapshot: db.prepare(
    `INSERT INTO snapshots (stream_id, version, snapshot_version, state) VALUES (?, ?, ?, ?)
     ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version,
       snapshot_version = excluded.snapshot_version, state = excluded.state
     WHERE excluded.version > snapshots.version`,
  ),
  // Saved unless a newer lease's token saved it since; RETURNING is empty when fenced off.
  saveCheckpoint: db.query<{ fence: number }, [string, string, number]>(
    `INSERT INTO relay_checkpoints (name, value, fence) VALUES (?1, ?2, ?3)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value, fence = excluded.fence
     WHERE relay_checkpoints.fence <= excluded.fence
     RETURNING fence`,
  ),
  // Takes a free or expired lease (a new token), or renews our own (the same); RETURNING shows who
  // holds it afterwards.
  takeLease: db.query<{ owner: string; token: number }, [string, string, number, number]>(
    `INSERT INTO relay_leases (name, owner, expires_at, token) VALUES (?1, ?2, ?3, 1)
     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
       token = CASE WHEN relay_leases.owner = excluded.owner THEN relay_leases.token ELSE relay_leases.token + 1 END
     WHERE relay_leases.owner = ?2 OR relay_leases.expires_at < ?4
     RETURNING owner, token`,
  ),
  // Expired at once, not forgotten: the next holder's token must still be newer.
  releaseLease: db.prepare("UPDATE relay_leases SET expires_at = 0 WHERE name = ? AND owner = ?"),
  insertOutcome: db.prepare("INSERT INTO outcomes (key, fingerprint, outcome) VALUES (?, ?, ?)"),
});
