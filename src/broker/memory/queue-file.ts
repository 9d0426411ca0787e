import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { EventEnvelope } from "../../store/envelope.ts";
import { enableWal } from "../../store/sqlite/wal.ts";
import type { DeadLetter } from "../dead-letters.ts";

interface DeadLetterRow {
  id: number;
  event: string;
  error: string;
  attempts: number;
  dead_lettered_at: string;
}

/** A delivery kept on disk for a paused projection, and the try it is for. */
export interface HeldDelivery {
  readonly id: number;
  readonly event: EventEnvelope;
  readonly attempt: number;
}

/**
 * What the embedded broker keeps on disk so that it outlives the process: the dead-letter queues, and
 * the deliveries held for a paused projection (the relay goes on past them: they are the only copy of
 * that projection's share until it resumes). The file keeps its first name, `dead-letters.sqlite`.
 */
export class QueueFile {
  private readonly db: Database;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { create: true, strict: true });
    this.db.exec("PRAGMA busy_timeout = 5000");
    enableWal(this.db);
    this.db.exec(`CREATE TABLE IF NOT EXISTS dead_letters (
      id INTEGER PRIMARY KEY, projection TEXT NOT NULL, event TEXT NOT NULL, error TEXT NOT NULL,
      attempts INTEGER NOT NULL, dead_lettered_at TEXT NOT NULL)`);
    this.db.exec(`CREATE TABLE IF NOT EXISTS held (
      id INTEGER PRIMARY KEY, projection TEXT NOT NULL, event TEXT NOT NULL, attempt INTEGER NOT NULL)`);
    this.db.exec("CREATE INDEX IF NOT EXISTS held_by_projection ON held (projection, id)");
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
      .query<DeadLetterRow, [string, number]>(
        "SELECT * FROM dead_letters WHERE projection = ? ORDER BY id LIMIT ?",
      )
      .all(projection, limit)
      .map(deadLetterOf);
  }

  /** The dead letter of one event, if the projection has it. */
  find(projection: string, eventId: string): (DeadLetter & { id: number }) | undefined {
    const row = this.db
      .query<DeadLetterRow, [string, string]>(
        "SELECT * FROM dead_letters WHERE projection = ? AND json_extract(event, '$.eventId') = ? ORDER BY id LIMIT 1",
      )
      .get(projection, eventId);
    return row ? deadLetterOf(row) : undefined;
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

  /** Keeps deliveries for a paused projection, in one transaction. */
  hold(projection: string, deliveries: readonly { event: EventEnvelope; attempt: number }[]): void {
    if (deliveries.length === 0) return;
    const insert = this.db.query("INSERT INTO held (projection, event, attempt) VALUES (?, ?, ?)");
    this.db.transaction(() => {
      for (const { event, attempt } of deliveries) insert.run(projection, JSON.stringify(event), attempt);
    })();
  }

  /** A page of what is held for a projection, the first held first, after row `after`. */
  held(projection: string, after: number, limit: number): HeldDelivery[] {
    return this.db
      .query<{ id: number; event: string; attempt: number }, [string, number, number]>(
        "SELECT id, event, attempt FROM held WHERE projection = ? AND id > ? ORDER BY id LIMIT ?",
      )
      .all(projection, after, limit)
      .map((row) => ({ id: row.id, event: JSON.parse(row.event), attempt: row.attempt }));
  }

  /** Moves one dead letter to the held deliveries, as a first try, in one transaction. */
  requeue(projection: string, deadLetterId: number): void {
    this.db.transaction(() => {
      this.db
        .query(
          "INSERT INTO held (projection, event, attempt) SELECT projection, event, 1 FROM dead_letters WHERE id = ? AND projection = ?",
        )
        .run(deadLetterId, projection);
      this.remove(deadLetterId);
    })();
  }

  heldCount(projection: string): number {
    return (
      this.db
        .query<{ n: number }, [string]>("SELECT count(*) AS n FROM held WHERE projection = ?")
        .get(projection)?.n ?? 0
    );
  }

  /** Drops held deliveries once they are applied (or dead-lettered), in one transaction. */
  release(ids: readonly number[]): void {
    if (ids.length === 0) return;
    const remove = this.db.query("DELETE FROM held WHERE id = ?");
    this.db.transaction(() => {
      for (const id of ids) remove.run(id);
    })();
  }

  close(): void {
    this.db.close();
  }
}

const deadLetterOf = (row: DeadLetterRow): DeadLetter & { id: number } => ({
  id: row.id,
  event: JSON.parse(row.event),
  error: row.error,
  attempts: row.attempts,
  deadLetteredAt: row.dead_lettered_at,
});
