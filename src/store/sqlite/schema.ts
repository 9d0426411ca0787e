/**
 * The file's format, 3. An append writes only to the end of one B-tree, `events`, whose key is the
 * position: in WAL mode every page a commit dirties is written twice (the WAL, then the checkpoint),
 * and an index on `(stream_id, version)` would put each append on a random leaf page of its own.
 *
 * - `events.position` is the rowid: SQLite has one writer at a time and a rolled-back insert frees its
 *   rowid, so positions are gap-free and in commit order, which the outbox relay and the stream heads
 *   rely on. `previous` is the position of the stream's event before this one (0 for its first): a
 *   stream is read by walking back from an event it knows. It is NOT NULL so that a writer that does
 *   not know it (an eventfold of format 1 on a migrated file) fails instead of breaking the chain.
 * - `stream_heads` holds each stream's last event as of `heads_through` in `store_meta`; the events
 *   after that position are kept in memory (`stream-heads.ts`) and written here in bulk, from time to
 *   time, rather than a row per append.
 * - `stream_marks` holds every `markEvery`-th event of each stream: a read of a long stream's early
 *   versions starts its walk at the mark above them, not at the head.
 * - `non_final_streams` holds the streams not yet final, written only when a stream starts and ends.
 * - The optimistic-concurrency check is made by the writer under the write lock, against the heads it
 *   has brought up to date under that same lock (see `writer.ts`): no unique index is needed for it.
 * - `ledger_leaves` and `ledger_nodes` are the Merkle tree over the events (`ledger.ts`), written in the
 *   append's transaction: leaf i is the event of `position`, and every complete subtree of 16 leaves
 *   and more has its hash kept by its level and index (smaller ones are made again from their leaves). Both grow only at their end, as `events` does. `ledger_heads` and
 *   `ledger_keys` hold the signed tree heads and the public keys that signed them.
 */
export const format = 3;

/** A row of `events`, as a statement reads it (`previous` aside). */
export interface EventRow {
  position: number;
  event_id: string;
  stream_id: string;
  aggregate_type: string;
  version: number;
  type: string;
  schema_version: number;
  time: number;
  data: string;
  metadata: string;
}

/** Every event whose version is a multiple of this is marked. */
export const markEvery = 64;

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
  previous       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stream_heads (
  stream_id      TEXT    PRIMARY KEY,
  aggregate_type TEXT    NOT NULL,
  version        INTEGER NOT NULL,
  position       INTEGER NOT NULL,
  time           INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stream_marks (
  stream_id TEXT    NOT NULL,
  version   INTEGER NOT NULL,
  position  INTEGER NOT NULL,
  PRIMARY KEY (stream_id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_meta (
  name  TEXT    PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
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
CREATE TABLE IF NOT EXISTS ledger_leaves (
  leaf_index INTEGER PRIMARY KEY,
  position   INTEGER NOT NULL,
  hash       BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_nodes (
  level      INTEGER NOT NULL,
  node_index INTEGER NOT NULL,
  hash       BLOB    NOT NULL,
  PRIMARY KEY (level, node_index)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_heads (
  tree_size  INTEGER PRIMARY KEY,
  position   INTEGER NOT NULL,
  root_hash  TEXT    NOT NULL,
  timestamp  TEXT    NOT NULL,
  key_id     TEXT    NOT NULL,
  signature  TEXT    NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_keys (
  key_id     TEXT PRIMARY KEY,
  algorithm  TEXT NOT NULL,
  public_key TEXT NOT NULL,
  since      TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO store_meta (name, value) VALUES ('format', ${format}), ('heads_through', 0)
  ON CONFLICT (name) DO NOTHING;
`;
