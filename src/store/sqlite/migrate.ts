import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import type { PersonalDataSpec } from "../../aggregate.ts";
import { StartupError } from "../../lib/errors.ts";
import { type LegacySealing, sealLegacyEvent, sealLegacyOutcome } from "../../privacy/legacy.ts";
import { extendLedger } from "./ledger.ts";
import type { MigrationMessage, MigrationRequest } from "./migration-thread.ts";
import { format, markEvery, schema } from "./schema.ts";
import { retryWhileBusy } from "./wal.ts";

/**
 * What the migration thread needs to seal a log written before personal data was sealed: the domain's
 * declarations, where the subjects' keys are kept, and the master key that wraps them.
 */
export interface LegacyPersonalData {
  readonly specs: Readonly<Record<string, PersonalDataSpec>>;
  readonly keysPath: string;
  readonly masterKey: Uint8Array;
}

/** How far a migration is: `done` of `total` events copied (format 1), then hashed into the tree. */
export type MigrationProgress = (done: number, total: number) => void;

/** Events copied per statement, each followed by a progress report. */
const chunk = 50_000;

const columnsOf = (db: Database, table: string): string[] =>
  db
    .query<{ name: string }, []>(`SELECT name FROM pragma_table_info('${table}')`)
    .all()
    .map((c) => c.name);

/**
 * The file's format: 0 for a new file (or one whose schema another connection is making now), 1 for
 * events without `previous`, else what `store_meta` says.
 */
const formatOf = (db: Database): number => {
  const columns = columnsOf(db, "events");
  if (columns.length === 0) return 0;
  if (!columns.includes("previous")) return 1;
  if (columnsOf(db, "store_meta").length === 0) return 0;
  return (
    db.query<{ value: number }, []>("SELECT value FROM store_meta WHERE name = 'format'").get()?.value ?? 0
  );
};

/** The schema in one transaction: another connection sees all of it or none. */
const createSchema = (db: Database): void => {
  db.exec(`BEGIN IMMEDIATE; ${schema} COMMIT;`);
};

/** Tables only a file of the first 0.x releases has: its outcomes and open streams would be lost unseen. */
const earliestTables = ["replies", "open_streams", "checkpoints", "leases", "streams"];

/** A data file of the first 0.x releases (before format 1) is refused at start, not misread. */
export const refuseEarliestFormat = (path: string): void => {
  if (!existsSync(path)) return;
  const db = new Database(path, { readonly: true });
  try {
    // Another process may be creating the file or switching it to WAL at this moment.
    db.exec("PRAGMA busy_timeout = 10000");
    const tables = retryWhileBusy(() =>
      db.query<{ name: string }, []>("SELECT name FROM sqlite_schema WHERE type = 'table'").all(),
    );
    const earlier = tables.map((t) => t.name).filter((name) => earliestTables.includes(name));
    if (earlier.length > 0) {
      throw new StartupError(
        `${path} was written by an earlier eventfold (tables ${earlier.join(", ")}); this 0.x release does not read it: start with an empty EVENTFOLD_DATA_DIR`,
      );
    }
  } finally {
    db.close();
  }
};

/** Whether opening the file will rewrite it (it is of an earlier format than this code's). */
export const needsMigration = (db: Database): boolean => {
  const found = formatOf(db);
  return found > 0 && found < format;
};

/**
 * Brings a file to the current format, creating the schema of a new one, in one transaction, so a
 * crash half-way leaves the file as it was:
 * - format 1 (the events table with its `UNIQUE (stream_id, version)` index, no `previous`, no stream
 *   heads) is rewritten: every event copied in position order with the position of its stream's event
 *   before it, each stream's head and marks computed, the old table dropped (free disk needed: about
 *   twice the events table, for the copy and its WAL);
 * - format 2 (no Merkle tree) gains the tree's tables, and every event is hashed into it, in position
 *   order. With `sealing` (the domain's personal data and its subjects' keys), the personal fields of
 *   events and kept outcomes are sealed first (`src/privacy/legacy.ts`): the tree then covers the
 *   ciphertext, and an erasure reaches what was written before too. Without it, no event is rewritten.
 * Several connections may open the file at once: the format is read again under the write lock, so
 * only the first migrates. A file of a later format is refused: this code would write events that code
 * cannot read (a format 2 eventfold refuses a format 3 file the same way: it would append events
 * without their leaves).
 */
export const bringToFormat = (
  db: Database,
  onProgress?: MigrationProgress,
  sealing?: LegacySealing,
): void => {
  const found = formatOf(db);
  if (found > format) {
    throw new StartupError(
      `the event store's file is of format ${found}, written by a later eventfold; this one reads format ${format} and earlier`,
    );
  }
  if (found === 0 || found === format) {
    createSchema(db);
    return;
  }
  // A file that says format 2 but holds signed heads was format 3: someone set it back, and building
  // the tree again would sign whatever its events are now.
  if (found === 2 && columnsOf(db, "ledger_heads").length > 0) {
    const heads = db.query<{ n: number }, []>("SELECT count(*) AS n FROM ledger_heads").get()?.n ?? 0;
    if (heads > 0)
      throw new StartupError(
        "the event store's file says format 2 but holds the signed heads of format 3: it was set back, and is not migrated again (run ledger verify on it)",
      );
  }
  db.exec("BEGIN IMMEDIATE");
  let sealed = false;
  try {
    // Another connection may have migrated while this one waited for the lock.
    const under = formatOf(db);
    if (under === 1) migrateFromFormat1(db, onProgress);
    db.exec(schema);
    if (under < format) {
      if (sealing) {
        sealLegacy(db, sealing, onProgress);
        sealed = Object.keys(sealing.specs).length > 0;
      }
      extendLedger(db, onProgress);
      db.query("UPDATE store_meta SET value = ? WHERE name = 'format'").run(format);
    }
    db.exec("COMMIT");
  } catch (error) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw error;
  }
  // What was sealed was plaintext: rewriting a row can leave its old bytes in a page's unused space,
  // which no pragma clears; a file made anew holds none of them.
  if (sealed) db.exec("VACUUM");
  // The copy went through the WAL: give its space back now rather than at the next restart.
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
};

/** Seals the personal data of a log written before it was sealed: see `LegacySealing`. */
const sealLegacy = (db: Database, sealing: LegacySealing, onProgress?: MigrationProgress): void => {
  const types = Object.keys(sealing.specs);
  if (types.length === 0) return;
  // What is rewritten leaves no copy in the file's free space: the plaintext was personal data.
  db.exec("PRAGMA secure_delete = ON");
  const marks = types.map(() => "?").join(", ");
  const total =
    db
      .query<{ n: number }, string[]>(`SELECT count(*) AS n FROM events WHERE aggregate_type IN (${marks})`)
      .get(...types)?.n ?? 0;
  const read = db.query<
    { position: number; aggregate_type: string; stream_id: string; type: string; data: string },
    [number, ...string[]]
  >(
    `SELECT position, aggregate_type, stream_id, type, data FROM events
     WHERE position > ? AND aggregate_type IN (${marks}) ORDER BY position LIMIT ${chunk}`,
  );
  const update = db.prepare("UPDATE events SET data = ? WHERE position = ?");
  let after = 0;
  let done = 0;
  onProgress?.(0, total);
  for (;;) {
    const rows = read.all(after, ...types);
    if (rows.length === 0) break;
    for (const row of rows) {
      const sealed = sealLegacyEvent(sealing, row.aggregate_type, row.stream_id, row.type, row.data);
      if (sealed !== undefined) update.run(sealed, row.position);
      after = row.position;
    }
    done += rows.length;
    onProgress?.(done, total);
  }
  const updateOutcome = db.prepare("UPDATE outcomes SET outcome = ?, fingerprint = ? WHERE key = ?");
  const outcomes = db.query<{ key: string; outcome: string; fingerprint: string }, []>(
    "SELECT key, outcome, fingerprint FROM outcomes",
  );
  for (const row of outcomes.all()) {
    const sealed = sealLegacyOutcome(sealing, row.outcome, row.fingerprint);
    if (sealed !== undefined) updateOutcome.run(sealed.outcome, sealed.fingerprint, row.key);
  }
  for (const type of types) db.query("DELETE FROM snapshots WHERE stream_id LIKE ? || '-%'").run(type);
  db.exec("PRAGMA secure_delete = OFF");
};

/** The ids of the data subjects whose events a file of an earlier format holds: the keys its sealing needs. */
export const legacySubjects = (db: Database, types: readonly string[]): string[] => {
  const subjects: string[] = [];
  for (const type of types) {
    for (const { stream_id } of db
      .query<{ stream_id: string }, [string]>(
        "SELECT DISTINCT stream_id FROM events WHERE aggregate_type = ?",
      )
      .all(type))
      subjects.push(stream_id.slice(type.length + 1));
  }
  return subjects;
};

const migrateFromFormat1 = (db: Database, onProgress?: MigrationProgress): void => {
  const last = db.query<{ n: number | null }, []>("SELECT max(position) AS n FROM events").get()?.n ?? 0;
  const total = db.query<{ n: number }, []>("SELECT count(*) AS n FROM events").get()?.n ?? 0;
  db.exec("ALTER TABLE events RENAME TO events_format_1");
  // The new tables, `events` and `store_meta` among them, from the current schema.
  db.exec(schema);
  // Format 1's unique index finds each event's predecessor in one seek.
  const copy = db.prepare(
    `INSERT INTO events (position, event_id, stream_id, aggregate_type, version, type, schema_version, time, data, metadata, previous)
     SELECT e.position, e.event_id, e.stream_id, e.aggregate_type, e.version, e.type, e.schema_version, e.time, e.data, e.metadata,
       coalesce((SELECT p.position FROM events_format_1 p WHERE p.stream_id = e.stream_id AND p.version = e.version - 1), 0)
     FROM events_format_1 e WHERE e.position > ? AND e.position <= ? ORDER BY e.position`,
  );
  let done = 0;
  onProgress?.(0, total);
  for (let from = 0; from < last; from += chunk) {
    done += copy.run(from, from + chunk).changes;
    onProgress?.(done, total);
  }
  // SQLite takes a bare column of a max() aggregate from the row that holds the maximum.
  db.exec(
    `INSERT INTO stream_heads (stream_id, aggregate_type, version, position, time)
     SELECT stream_id, aggregate_type, max(version), position, time FROM events_format_1 GROUP BY stream_id`,
  );
  db.exec(
    `INSERT INTO stream_marks (stream_id, version, position)
     SELECT stream_id, version, position FROM events_format_1 WHERE version % ${markEvery} = 0`,
  );
  db.exec("DROP TABLE events_format_1");
  db.query("UPDATE store_meta SET value = ? WHERE name = 'heads_through'").run(last);
};

/**
 * Migrates the file at `path` on a thread of its own, if it needs it, telling `onProgress` as it goes;
 * resolves once the file is of the current format (at once for one that is).
 */
export const migrateOffThread = async (
  path: string,
  onProgress?: MigrationProgress,
  personal?: LegacyPersonalData,
): Promise<void> => {
  if (!existsSync(path)) return;
  refuseEarliestFormat(path);
  const db = new Database(path, { readonly: true });
  let needed: boolean;
  try {
    db.exec("PRAGMA busy_timeout = 10000");
    needed = needsMigration(db);
  } finally {
    db.close();
  }
  if (!needed) return;
  const worker = new Worker(new URL("./migration-thread.ts", import.meta.url).href, {
    name: "sqlite-migrate",
  });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<MigrationMessage>) => {
        const message = event.data;
        if (message.kind === "progress") onProgress?.(message.done, message.total);
        else if (message.kind === "done") resolve();
        else reject(Object.assign(new Error(message.message), { name: message.name }));
      };
      worker.onerror = (event) => reject(new Error(`the migration thread failed: ${event.message}`));
      worker.postMessage({ path, personal } satisfies MigrationRequest);
    });
  } finally {
    worker.terminate();
  }
};
