/** What the embedded event store takes on disk, per event and per stored outcome, read from its file. */
import { Database } from "bun:sqlite";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

export interface StoreSize {
  readonly events: number;
  readonly outcomes: number;
  /** The events table, the stream heads and marks, over the events. */
  readonly bytesPerEvent: number;
  /** The outcomes table (a command's answer under its Idempotency-Key), over the outcomes. */
  readonly bytesPerOutcome: number;
  /** The database file and its write-ahead log, as they stand. */
  readonly fileBytes: number;
  readonly walBytes: number;
}

/** Reads the sizes of a live store (WAL lets this read beside the server's writer). */
export const measureStoreSize = (dataDir: string): StoreSize | undefined => {
  const path = join(dataDir, "events.sqlite");
  if (!existsSync(path)) return undefined;
  const db = new Database(path, { readonly: true });
  try {
    db.exec("PRAGMA busy_timeout = 10000");
    // dbstat names each B-tree: a table, or an index, which sqlite_schema ties to its table.
    const pages = db
      .query<{ name: string; tbl: string; bytes: number }, []>(
        `SELECT s.name, coalesce(m.tbl_name, s.name) AS tbl, sum(s.pgsize) AS bytes
         FROM dbstat s LEFT JOIN sqlite_schema m ON m.name = s.name GROUP BY s.name`,
      )
      .all();
    const bytesOf = (table: string) => pages.filter((p) => p.tbl === table).reduce((a, p) => a + p.bytes, 0);
    const count = (table: string) =>
      db.query<{ n: number }, []>(`SELECT count(*) AS n FROM ${table}`).get()?.n ?? 0;
    const events = count("events");
    const outcomes = count("outcomes");
    const wal = `${path}-wal`;
    return {
      events,
      outcomes,
      bytesPerEvent:
        events > 0
          ? Math.round((bytesOf("events") + bytesOf("stream_heads") + bytesOf("stream_marks")) / events)
          : 0,
      bytesPerOutcome: outcomes > 0 ? Math.round(bytesOf("outcomes") / outcomes) : 0,
      fileBytes: statSync(path).size,
      walBytes: existsSync(wal) ? statSync(wal).size : 0,
    };
  } finally {
    db.close();
  }
};

/** Bytes of every file in a directory (not recursive: the store keeps its files at the top). */
export const directoryBytes = (dir: string): number =>
  readdirSync(dir).reduce((total, name) => {
    const stat = statSync(join(dir, name));
    return total + (stat.isFile() ? stat.size : 0);
  }, 0);

/** Events in a live store (a count only: cheap enough to poll beside the server's writer). */
export const storedEvents = (dataDir: string): number | undefined => {
  const path = join(dataDir, "events.sqlite");
  if (!existsSync(path)) return undefined;
  const db = new Database(path, { readonly: true });
  try {
    db.exec("PRAGMA busy_timeout = 10000");
    return db.query<{ n: number }, []>("SELECT count(*) AS n FROM events").get()?.n ?? 0;
  } finally {
    db.close();
  }
};
