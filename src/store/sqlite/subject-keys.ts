import { Database, type Statement } from "bun:sqlite";
import {
  type ErasureRecord,
  type SubjectKey,
  type SubjectKeyStore,
  subjectKeyOf,
} from "../../privacy/subject-keys.ts";
import { enableWal, retryWhileBusy } from "./wal.ts";

interface Row {
  subject_id: string;
  wrapped: Uint8Array | null;
  created_at: string;
  erased_at: string | null;
  erased_by: string | null;
  reason: string | null;
}

const schema = `CREATE TABLE IF NOT EXISTS subject_keys (
  subject_id TEXT PRIMARY KEY,
  wrapped BLOB,
  created_at TEXT NOT NULL,
  erased_at TEXT,
  erased_by TEXT,
  reason TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS subject_keys_erased_at ON subject_keys (erased_at) WHERE erased_at IS NOT NULL`;

const toKey = (row: Row): SubjectKey =>
  subjectKeyOf(row.subject_id, {
    // A copy: the caller's to keep or change, whatever SQLite does with its own buffer.
    wrapped: new Uint8Array(row.wrapped ?? []),
    erasedAt: row.erased_at,
    erasedBy: row.erased_by,
    reason: row.reason,
  });

/** Erased, but the old key's bytes could not be cleared from the write-ahead log yet (see `erase`). */
export class ErasureNotFlushedError extends Error {
  override readonly name: string = "ErasureNotFlushedError";
}

export interface SqliteSubjectKeysOptions {
  /** How long a statement waits for another connection's lock (default 10 s). */
  readonly busyTimeoutMs?: number;
  /** How many times `erase` tries to empty the write-ahead log before it gives up (default 3). */
  readonly checkpointAttempts?: number;
}

/**
 * Subject keys in a SQLite file of their own (the caller names it: `<dataDir>/subject-keys.sqlite`),
 * not in the events' file. The events' file keeps only ciphertext and is backed up and kept for good;
 * this one must not be: each of its backups holds every key that was live when it was taken, and an
 * erasure reaches no backup. Its own file lets it be backed up on its own schedule, with an expiry as
 * short as the promise made to data subjects (an erased subject's data stays readable from any backup
 * of this file taken before the erasure, until that backup expires), and lets the event log be restored
 * without bringing erased keys back.
 *
 * Within the file an erasure leaves no trace of the key: `secure_delete` zeroes the freed cell, and a
 * checkpoint empties the write-ahead log that held the page's earlier images. What no file operation
 * reaches: filesystem snapshots, blocks a copy-on-write filesystem or an SSD's wear levelling keeps
 * aside, and copies of the file; for those, the master key is what erasure rests on (whoever holds the
 * master key and an old copy of this file can read the subject's data).
 *
 * Several processes may open the same file: a key is made under SQLite's write lock (`BEGIN
 * IMMEDIATE`), so of two racing for a subject the second finds the first's key. The calls are
 * synchronous under the `Promise` (each is a few statements, and a lock another process holds is waited
 * for in the thread, up to `busyTimeoutMs`), but for the making of new keys, which waits for the end of
 * the turn of the event loop to make all of that turn's in one commit.
 */
export class SqliteSubjectKeys implements SubjectKeyStore {
  readonly name = "sqlite";
  private readonly db: Database;
  private readonly select: Statement<Row, [string]>;
  private readonly insert: Statement<unknown, [string, Uint8Array, string]>;
  private readonly markErased: Statement<unknown, [string, string, string, string]>;
  private readonly checkpoint: Statement<{ busy: number; log: number; checkpointed: number }, []>;
  private readonly checkpointAttempts: number;
  private readonly erasures: Statement<Row, [string, number]>;
  /** New subjects' keys asked for in this turn of the event loop, made together at its end. */
  private making: {
    readonly ids: readonly string[];
    readonly create: (subjectId: string) => Uint8Array;
    readonly done: PromiseWithResolvers<Row[]>;
  }[] = [];

  constructor(path: string, options: SqliteSubjectKeysOptions = {}) {
    this.db = new Database(path, { create: true, strict: true });
    // First, so that another process opening the same file makes us wait rather than fail.
    this.db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 10_000)}`);
    enableWal(this.db);
    this.db.exec("PRAGMA synchronous = FULL");
    // Freed content is overwritten with zeros: an erased key's bytes do not linger in a page's free space.
    this.db.exec("PRAGMA secure_delete = ON");
    retryWhileBusy(() => this.db.exec(schema));
    this.checkpointAttempts = Math.max(1, options.checkpointAttempts ?? 3);
    // One statement for any number of subjects: the ids go in as one JSON array.
    this.select = this.db.prepare(
      "SELECT * FROM subject_keys WHERE subject_id IN (SELECT value FROM json_each(?))",
    ) as Statement<Row, [string]>;
    this.insert = this.db.prepare(
      `INSERT INTO subject_keys (subject_id, wrapped, created_at) VALUES (?, ?, ?)
       ON CONFLICT (subject_id) DO NOTHING`,
    );
    this.markErased = this.db.prepare(
      `UPDATE subject_keys SET wrapped = NULL, erased_at = ?, erased_by = ?, reason = ?
       WHERE subject_id = ? AND erased_at IS NULL`,
    );
    this.erasures = this.db.prepare(
      "SELECT * FROM subject_keys WHERE erased_at > ? ORDER BY erased_at LIMIT ?",
    ) as Statement<Row, [string, number]>;
    this.checkpoint = this.db.prepare("PRAGMA wal_checkpoint(TRUNCATE)") as Statement<
      { busy: number; log: number; checkpointed: number },
      []
    >;
  }

  async keys(
    subjectIds: readonly string[],
    create?: (subjectId: string) => Uint8Array,
  ): Promise<Map<string, SubjectKey>> {
    const found = new Map<string, SubjectKey>();
    if (subjectIds.length === 0) return found;
    // Most asks are for subjects that have their key: one read, without the write lock.
    for (const row of this.select.all(JSON.stringify(subjectIds))) found.set(row.subject_id, toKey(row));
    const missing = [...new Set(subjectIds)].filter((id) => !found.has(id));
    if (!create || missing.length === 0) return found;
    for (const row of await this.make(missing, create)) found.set(row.subject_id, toKey(row));
    return found;
  }

  /**
   * New subjects' keys, made in one transaction with every other one asked for in the same turn of the
   * event loop: each commit is an fsync (the file is `synchronous = FULL`), and on the event loop that
   * takes HTTP one per new subject would cap how fast accounts are opened.
   */
  private make(ids: readonly string[], create: (subjectId: string) => Uint8Array): Promise<Row[]> {
    const done = Promise.withResolvers<Row[]>();
    this.making.push({ ids, create, done });
    if (this.making.length === 1) setImmediate(() => this.makeWaiting());
    return done.promise;
  }

  private makeWaiting(): void {
    const batch = this.making;
    this.making = [];
    if (batch.length === 0) return;
    // Wrapped before the lock is taken, so the lock is held for the statements only. A caller whose
    // wrapping fails is told so alone.
    const wrapped = new Map<string, Uint8Array>();
    const asked: typeof batch = [];
    for (const entry of batch) {
      try {
        const own = new Map<string, Uint8Array>();
        for (const id of entry.ids) if (!wrapped.has(id) && !own.has(id)) own.set(id, entry.create(id));
        for (const [id, bytes] of own) wrapped.set(id, bytes);
        asked.push(entry);
      } catch (error) {
        entry.done.reject(error);
      }
    }
    if (asked.length === 0) return;
    try {
      const createdAt = new Date().toISOString();
      const rows = this.db
        .transaction(() => {
          for (const [id, bytes] of wrapped) this.insert.run(id, bytes, createdAt);
          // Another process may have stored one first (its key stands) or erased the subject meanwhile.
          return this.select.all(JSON.stringify([...wrapped.keys()]));
        })
        .immediate();
      const byId = new Map(rows.map((row) => [row.subject_id, row]));
      for (const { ids, done } of asked) done.resolve(ids.flatMap((id) => byId.get(id) ?? []));
    } catch (error) {
      for (const { done } of asked) done.reject(error);
    }
  }

  async erasedSince(after: string, limit: number): Promise<ErasureRecord[]> {
    return this.erasures.all(after, limit).flatMap((row) => {
      const key = toKey(row);
      return key.state === "erased" ? [key.erasure] : [];
    });
  }

  async erase(record: ErasureRecord): Promise<ErasureRecord | undefined> {
    // Keys asked for before: made first, so that an erasure after them finds them.
    this.makeWaiting();
    const { subjectId, erasedAt, erasedBy, reason } = record;
    const kept = this.db
      .transaction((): ErasureRecord | undefined => {
        if (this.markErased.run(erasedAt, erasedBy, reason, subjectId).changes === 1)
          return { subjectId, erasedAt, erasedBy, reason };
        const [row] = this.select.all(JSON.stringify([subjectId]));
        const key = row && toKey(row);
        return key?.state === "erased" ? key.erasure : undefined;
      })
      .immediate();
    // Also when it was erased before: a caller told that the log could not be emptied tries again.
    if (kept) this.flushLog();
    return kept;
  }

  /**
   * Copies every page into the database file and truncates the write-ahead log to nothing: until
   * then the log still holds the page as it was before the erasure, the wrapped key in it. The
   * checkpoint reports busy rather than failing while another connection (another process) is in a
   * read transaction on an older snapshot, or is writing; it waits `busyTimeoutMs` for them each time
   * and is tried again a few times, since readers come and go. If it never gets through, the erasure
   * stands (the key can no longer be read through SQLite) but its bytes are still in the log file,
   * and the caller is told so: erasing again answers the same record and tries again.
   */
  private flushLog(): void {
    for (let attempt = 1; ; attempt++) {
      let busy: boolean;
      try {
        busy = (this.checkpoint.get()?.busy ?? 1) !== 0;
      } catch (error) {
        if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
        busy = true;
      }
      if (!busy) return;
      if (attempt >= this.checkpointAttempts) {
        throw new ErasureNotFlushedError(
          "the subject is erased, but another connection kept the write-ahead log from being emptied: its old key's bytes remain in the log file until erase is called again or a checkpoint empties it",
        );
      }
      Bun.sleepSync(50 * attempt);
    }
  }

  async close(): Promise<void> {
    // Keys asked for just before: made, not lost with the connection.
    this.makeWaiting();
    this.db.close();
  }
}
