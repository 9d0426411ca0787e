/**
 * `events.position` is the rowid: SQLite has one writer at a time and a rolled-back insert frees its
 * rowid, so positions are gap-free and in commit order, which is what the outbox relay needs.
 * `UNIQUE (stream_id, version)` is the optimistic-concurrency backstop and the stream read index.
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
CREATE TABLE IF NOT EXISTS streams (
  stream_id      TEXT    PRIMARY KEY,
  aggregate_type TEXT    NOT NULL,
  version        INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  final          INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS streams_open ON streams (aggregate_type) WHERE final = 0;
CREATE TABLE IF NOT EXISTS snapshots (
  stream_id        TEXT    PRIMARY KEY,
  version          INTEGER NOT NULL,
  snapshot_version INTEGER NOT NULL,
  state            TEXT    NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
  name       TEXT    PRIMARY KEY,
  owner      TEXT    NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replies (
  key         TEXT    PRIMARY KEY,
  fingerprint TEXT    NOT NULL,
  status      INTEGER NOT NULL,
  body        TEXT    NOT NULL
) WITHOUT ROWID;
`;
