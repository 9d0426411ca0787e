import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { EventEnvelope } from "../../store/envelope.ts";
import { enableWal } from "../../store/sqlite/wal.ts";
import type { DeadLetter } from "../dead-letters.ts";

interface Row {
  id: number;
  event: string;
  error: string;
  attempts: number;
  dead_lettered_at: string;
}

/** The embedded broker's dead-letter queues: kept on disk so they outlive the process. */
export class DeadLetterFile {
  private readonly db: Database;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { create: true, strict: true });
    this.db.exec("PRAGMA busy_timeout = 5000");
    enableWal(this.db);
    this.db.exec(`CREATE TABLE IF NOT EXISTS dead_letters (
      id INTEGER PRIMARY KEY, projection TEXT NOT NULL, event TEXT NOT NULL, error TEXT NOT NULL,
      attempts INTEGER NOT NULL, dead_lettered_at TEXT NOT NULL)`);
  }

  add(projection: string, event: EventEnvelope, error: string, attempts: number): void {
    this.db
      .query(
        "INSERT INTO dead_letters (projection, event, error, attempts, dead_lettered_at) VALUES (?, ?, ?, ?, ?)",
      )
      .run(projection, JSON.stringify(event), error, attempts, new Date().toISOString());
  }

  list(projection: string, limit: number): (DeadLetter & { id: number })[] {
    return this.db
      .query<Row, [string, number]>("SELECT * FROM dead_letters WHERE projection = ? ORDER BY id LIMIT ?")
      .all(projection, limit)
      .map((row) => ({
        id: row.id,
        event: JSON.parse(row.event),
        error: row.error,
        attempts: row.attempts,
        deadLetteredAt: row.dead_lettered_at,
      }));
  }

  count(projection: string): number {
    return (
      this.db
        .query<{ n: number }, [string]>("SELECT count(*) AS n FROM dead_letters WHERE projection = ?")
        .get(projection)?.n ?? 0
    );
  }

  remove(id: number): void {
    this.db.query("DELETE FROM dead_letters WHERE id = ?").run(id);
  }

  close(): void {
    this.db.close();
  }
}
