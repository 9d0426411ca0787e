/**
 * `events.position` is the rowid: SQLite has one writer at a time and a rolled-back insert frees its
 * rowid, so positions are gap-free and in commit order, which is what the outbox relay needs.
 * `UNIQUE (stream_id, version)` is the optimistic-concurrency backstop, the stream read index, and
 * where a stream's version is read (its last entry). No per-stream row is updated on every append: in
 * WAL mode each B-tree page an append dirties is written twice (WAL, then the checkpoint), and such a
 * row would dirty two random pages more. `non_final_streams` holds the streams not yet final, written
 * only when a stream starts and when it ends.
 */
export const schema = `
CREATE TABLE IF NOT EXISTS events (
  position       INTEGER PRIMARY KEY,
  event_id       TEXT    NOT NULL,
  stream_id      TEXT    NOT NULL,
  aggregate_type TEXT    NOT NULL,
  version        INTEGER NOT NULL,
  type           TEXT    NOT NULL,
  schema_version INTEGER NOT NULL,
  time           INTEGER NOT NULL,
  data           TEXT    NOT NULL,
  metadata       TEXT    NOT NULL,
  UNIQUE (stream_id, version)
);
CREATE TABLE IF NOT EXISTS non_final_streams (
  aggregate_type TEXT NOT NULL,
  stream_id      TEXT NOT NULL,
  PRIMARY KEY (aggregate_type, stream_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
  stream_id        TEXT    PRIMARY KEY,
  version          INTEGER NOT NULL,
  snapshot_version INTEGER NOT NULL,
  state            TEXT    NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS relay_checkpoints (
  name  TEXT    PRIMARY KEY,
  value TEXT    NOT NULL,
  fence INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS relay_leases (
  name       TEXT    PRIMARY KEY,
  owner      TEXT    NOT NULL,
  expires_at INTEGER NOT NULL,
  token      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outcomes (
  key         TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  outcome     TEXT NOT NULL
) WITHOUT ROWID;
`;
