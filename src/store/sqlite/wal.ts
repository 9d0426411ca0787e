import type { Database } from "bun:sqlite";

/** Switches to WAL. Two processes creating a file at once: this switch ignores busy_timeout, so retry. */
export const enableWal = (db: Database): void => {
  for (let attempt = 1; ; attempt++) {
    try {
      db.exec("PRAGMA journal_mode = WAL");
      return;
    } catch (error) {
      if (attempt >= 50 || (error as { code?: string }).code !== "SQLITE_BUSY") throw error;
      Bun.sleepSync(20 * attempt);
    }
  }
};
