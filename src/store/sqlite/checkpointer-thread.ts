/**
 * The WAL checkpointer's thread. A checkpoint copies the WAL's pages into the database file and fsyncs
 * it, which takes tens of milliseconds; left to SQLite, it runs inside whichever commit crosses the WAL
 * threshold, and every writer in that batch waits. Run here, PASSIVE, beside the writer, no commit
 * waits for it.
 */
import { openDatabase } from "./writer.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ path: string; intervalMs: number }>) => {
  const { path, intervalMs } = event.data;
  const db = openDatabase(path);
  const checkpoint = db.query("PRAGMA wal_checkpoint(PASSIVE)");
  setInterval(() => {
    try {
      checkpoint.get();
    } catch {
      // Busy (another process checkpoints the same file): the next tick tries again.
    }
  }, intervalMs);
};
