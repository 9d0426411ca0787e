import type { Database } from "bun:sqlite";

/**
 * Runs `work` again while SQLite answers SQLITE_BUSY, with growing pauses (about 25 s in all): what
 * two processes opening one file at once meet where busy_timeout does not apply.
 */
export const retryWhileBusy = <T>(work: () => T): T => {
  for (let attempt = 1; ; attempt++) {
    try {
      return work();
    } catch (error) {
      if (attempt >= 50 || (error as { code?: string }).code !== "SQLITE_BUSY") throw error;
      Bun.sleepSync(20 * attempt);
    }
  }
};

/** Switches to WAL. Two processes creating a file at once: this switch ignores busy_timeout. */
export const enableWal = (db: Database): void => {
  retryWhileBusy(() => db.exec("PRAGMA journal_mode = WAL"));
};
