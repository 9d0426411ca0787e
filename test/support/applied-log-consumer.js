// A consumer in plain Node that uses only @eventfold/client (packed) and a SQLite file of its own: it
// writes a row per event it applies, and its position, in one transaction. Run by
// test/client-kill9.test.ts, which kills it with -9 and reads its rows: two rows for one position
// would be an event applied twice; a position missing, one skipped.
import { rmSync } from "node:fs";
import { createEventfoldClient } from "@eventfold/client";
import sqlite from "node-sqlite3-wasm";

const path = process.env.CONSUMER_DB;
// This SQLite build locks its file with a directory beside it, which a killed process leaves behind.
rmSync(`${path}.lock`, { recursive: true, force: true });
const db = new sqlite.Database(path);
db.exec(`
  CREATE TABLE IF NOT EXISTS applied (seq INTEGER PRIMARY KEY AUTOINCREMENT, position INTEGER NOT NULL, event_id TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER NOT NULL);
`);

const api = createEventfoldClient({ baseUrl: process.env.EVENTFOLD_URL });
const subscription = api.subscribe({
  checkpoint: { load: () => db.get("SELECT position FROM checkpoint")?.position },
  handle: (event) => {
    db.exec("BEGIN IMMEDIATE");
    db.run("INSERT INTO applied (position, event_id) VALUES (?, ?)", [event.position, event.eventId]);
    db.run(
      "INSERT INTO checkpoint (id, position) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET position = excluded.position",
      [event.position],
    );
    db.exec("COMMIT");
    process.stdout.write(`applied ${event.position}\n`);
  },
  onCaughtUp: (status) => process.stdout.write(`caught-up ${status.position}\n`),
});
process.once("SIGTERM", async () => {
  await subscription.stop();
  db.close();
});
subscription.done.catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
