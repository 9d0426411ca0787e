import type { Database } from "bun:sqlite";
import { format, markEvery, schema } from "./schema.ts";

/** How far a migration is: `done` of `total` events copied. */
export type MigrationProgress = (done: number, total: number) => void;

/** Events copied per statement: a progress line each, and the event loop is not held for minutes in one. */
const chunk = 50_000;

const columnsOf = (db: Database, table: string): string[] =>
  db
    .query<{ name: string }, []>(`SELECT name FROM pragma_table_info('${table}')`)
    .all()
    .map((c) => c.name);

/**
 * Brings a file to the current format, creating the schema of a new one. A file of format 1 (the
 * events table with its `UNIQUE (stream_id, version)` index, no `previous`, no stream heads) is
 * rewritten in one transaction: every event copied in position order with the position of its
 * stream's event before it, each stream's head and marks computed, the old table dropped. A crash
 * half-way leaves the file as it was. Several connections may open the file at once: the format is
 * read again under the write lock, so only the first migrates.
 */
export const bringToFormat = (db: Database, onProgress?: MigrationProgress): void => {
  const hasEvents = columnsOf(db, "events").length > 0;
  if (!hasEvents || columnsOf(db, "events").includes("previous")) {
    db.exec(schema);
    return;
  }
  db.exec("BEGIN IMMEDIATE");
  try {
    // Another connection may have migrated while this one waited for the lock.
    if (!columnsOf(db, "events").includes("previous")) migrateFromFormat1(db, onProgress);
    db.exec(schema);
    db.exec("COMMIT");
  } catch (error) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw error;
  }
};

const migrateFromFormat1 = (db: Database, onProgress?: MigrationProgress): void => {
  const last = db.query<{ n: number | null }, []>("SELECT max(position) AS n FROM events").get()?.n ?? 0;
  const total = db.query<{ n: number }, []>("SELECT count(*) AS n FROM events").get()?.n ?? 0;
  db.exec("ALTER TABLE events RENAME TO events_format_1");
  // The new tables, `events` among them, from the current schema (its store_meta row is set below).
  db.exec(schema);
  // Format 1's unique index finds each event's predecessor in one seek.
  const copy = db.prepare(
    `INSERT INTO events (position, event_id, stream_id, aggregate_type, version, type, schema_version, time, data, metadata, previous)
     SELECT e.position, e.event_id, e.stream_id, e.aggregate_type, e.version, e.type, e.schema_version, e.time, e.data, e.metadata,
       (SELECT p.position FROM events_format_1 p WHERE p.stream_id = e.stream_id AND p.version = e.version - 1)
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
  db.query("UPDATE store_meta SET value = ? WHERE name = 'format'").run(format);
};
