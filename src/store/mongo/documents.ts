import {
  type Collection,
  type Db,
  MongoBulkWriteError,
  MongoError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoWriteConcernError,
  type ObjectId,
  type WriteError,
} from "mongodb";
import type { EventEnvelope, EventMetadata } from "../envelope.ts";
import type { StoredOutcome } from "../outcome-store.ts";

/**
 * One collection, `commits`, holds three kinds of document:
 *
 * - `events`: one append. MongoDB writes one document atomically, so all events of a command land
 *   together or not at all, and a batch of appends is one unordered `insertMany` in which each succeeds
 *   or fails alone. Every event's `(streamId, version)` is unique (a multikey unique index), so two
 *   writers racing from the same version, or overlapping commits, collide and exactly one wins.
 * - `outcomes`: outcomes under idempotency keys that wrote no events (refusals, no-ops). They sit in
 *   the same collection as the outcomes written with events, so one unique index on `outcomes.key`
 *   covers every stored outcome: a key holds one outcome, whichever kind of document it is in.
 * - `tombstone`: positions that no append will ever take (its writer failed, or a reader gave up
 *   waiting for it), so that readers may pass them. Every position is unique (a multikey unique index
 *   on `positions`): a writer that lands after its positions were tombstoned collides, and writes
 *   again at new positions. No event is ever skipped.
 */
export interface EventDoc {
  eventId: string;
  type: string;
  version: number;
  schemaVersion: number;
  data: unknown;
  metadata: EventMetadata;
}

interface Positioned {
  /** The first and last position it takes, and every one between: the unique index's entries. */
  position: number;
  lastPosition: number;
  positions: number[];
}

export interface EventsDoc extends Positioned {
  _id: ObjectId;
  kind: "events";
  streamId: string;
  aggregateType: string;
  /** First and last event number in this commit. */
  version: number;
  lastVersion: number;
  time: Date;
  final: boolean;
  events: EventDoc[];
  outcomes?: StoredOutcome[];
}

export interface OutcomesDoc {
  _id: ObjectId;
  kind: "outcomes";
  /** The stream whose version guarded the write (see `outcomes.ts`). */
  streamId?: string;
  time: Date;
  outcomes: StoredOutcome[];
}

export interface TombstoneDoc extends Positioned {
  _id: ObjectId;
  kind: "tombstone";
  time: Date;
}

export type CommitDoc = EventsDoc | OutcomesDoc | TombstoneDoc;

export interface SnapshotDoc {
  _id: string;
  version: number;
  snapshotVersion: number;
  state: unknown;
}

/** The collections of one eventfold database. */
export interface Collections {
  readonly commits: Collection<CommitDoc>;
  readonly snapshots: Collection<SnapshotDoc>;
  readonly counters: Collection<{ _id: string; value: number }>;
  /** Streams whose last append was not final, by aggregate type: what a restart resumes. */
  readonly nonFinal: Collection<{ _id: string; aggregateType: string }>;
  readonly checkpoints: Collection<{ _id: string; value: string; fence: number }>;
  readonly leases: Collection<{ _id: string; owner: string; expiresAt: Date; token: number }>;
}

export const collections = (db: Db): Collections => ({
  commits: db.collection("commits"),
  snapshots: db.collection("snapshots"),
  counters: db.collection("counters"),
  nonFinal: db.collection("non_final_streams"),
  checkpoints: db.collection("relay_checkpoints"),
  leases: db.collection("relay_leases"),
});

/**
 * The unique indexes are the store's guarantees; the others serve its reads. One `createIndexes` per
 * collection; creating an index that exists with the same spec is a no-op. (A unique index build
 * waits for every voting member: the first start needs the replica set whole.)
 */
export const ensureIndexes = async ({ commits, nonFinal }: Collections): Promise<void> => {
  const events = { partialFilterExpression: { kind: "events" } };
  await commits.createIndexes([
    { key: { streamId: 1, "events.version": 1 }, name: "stream_event_version", unique: true, ...events },
    { key: { streamId: 1, lastVersion: 1 }, name: "stream_last_version", ...events },
    {
      key: { positions: 1 },
      name: "positions",
      unique: true,
      partialFilterExpression: { positions: { $exists: true } },
    },
    {
      key: { lastPosition: 1 },
      name: "last_position",
      partialFilterExpression: { lastPosition: { $exists: true } },
    },
    {
      key: { "outcomes.key": 1 },
      name: "outcome_key",
      unique: true,
      partialFilterExpression: { "outcomes.key": { $exists: true } },
    },
  ]);
  await nonFinal.createIndex({ aggregateType: 1 }, { name: "aggregate_type" });
};

export const DUPLICATE_KEY = 11000;

/**
 * A bulk of upserts some of which lost a race: another client inserted the same document between this
 * one's read and its upsert, and the server reports the unique `_id` as a duplicate key (MongoDB 4.2 and later retry an
 * upsert that filters on the unique key alone, as these do, on their own; earlier servers report it).
 * The other's document stands (a subject's key, read back; a ledger node, the same bytes). Anything else fails the call, a write concern error above
 * all (the upsert may not be on a majority, and a failover could take it back): nothing is answered
 * that could be lost. The driver (7.9, `lib/bulk/common.js`) throws a write concern error with empty
 * `writeErrors`, the documents' own errors in its result; a result's write concern error is checked
 * too, for a reply it builds the other way.
 */
export const onlyDuplicateKeys = (error: unknown): boolean => {
  if (!(error instanceof MongoBulkWriteError)) return false;
  const errors = [error.writeErrors].flat();
  return (
    errors.length > 0 &&
    errors.every((e) => e.code === DUPLICATE_KEY) &&
    error.err === undefined &&
    error.result?.getWriteConcernError?.() === undefined
  );
};

/**
 * The index a duplicate-key error names. The server's message reads `E11000 duplicate key error
 * collection: <ns> index: <name> [collation: {…}] dup key: { … }`; the bulk write's per-document errors keep only the
 * code and that message, not the key pattern, so the name is parsed from the fixed words around it
 * (never searched for anywhere in the message, where a key's value could contain it).
 */
export const duplicateIndex = (errmsg: string | undefined): string | undefined =>
  /^E11000 duplicate key error collection: \S+ index: (\S+) /.exec(errmsg ?? "")?.[1];

/**
 * A single write refused for a duplicate key. With a write concern error too, the driver throws the
 * write concern's error (its code, not 11000) and keeps the duplicate in the server's `writeErrors`.
 */
export const isDuplicateKey = (error: unknown): boolean =>
  error instanceof MongoServerError &&
  (error.code === DUPLICATE_KEY ||
    (error as { result?: { writeErrors?: { code?: number }[] } }).result?.writeErrors?.some(
      (e) => e.code === DUPLICATE_KEY,
    ) === true);

/**
 * What a bulk write's error says of each document: refused (with its write error, so not written) or
 * unknown (it may or may not be written). A write concern error, a network error or a time-out leaves
 * every document without its own error unknown: some of them may be written, durably or not yet.
 */
export const bulkVerdicts = (
  error: unknown,
  count: number,
): { refused: Map<number, WriteError>; unknown: Set<number> } => {
  const refused = new Map<number, WriteError>();
  if (error instanceof MongoBulkWriteError) {
    // A write concern error or a network error is thrown with an empty `writeErrors`, the documents'
    // own errors staying in the result: both are read.
    for (const e of [...[error.writeErrors].flat(), ...(error.result?.getWriteErrors?.() ?? [])]) {
      refused.set(e.index, e);
    }
  }
  // Write errors alone are thrown with them in `writeErrors`; anything else left the rest unsure.
  const concernFailed =
    !(error instanceof MongoBulkWriteError) ||
    [error.writeErrors].flat().length === 0 ||
    error.result?.getWriteConcernError?.() !== undefined;
  const unknown = new Set<number>();
  if (concernFailed) for (let i = 0; i < count; i++) if (!refused.has(i)) unknown.add(i);
  return { refused, unknown };
};

export const toEnvelope = (commit: EventsDoc, index: number): EventEnvelope => {
  const event = commit.events[index];
  if (!event) throw new Error(`commit of ${commit.streamId} has no event ${index}`);
  return {
    eventId: event.eventId,
    streamId: commit.streamId,
    aggregateType: commit.aggregateType,
    type: event.type,
    version: event.version,
    schemaVersion: event.schemaVersion,
    time: commit.time.toISOString(),
    data: event.data,
    metadata: event.metadata,
    position: commit.position + index,
  };
};

export const range = (from: number, to: number): number[] =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/**
 * Server error codes of a replica set that cannot serve now (the driver's retryable-read set, in
 * `lib/error.js`): host unreachable or not found, network time-out, shutdown, a primary stepping down
 * or gone, an interruption by a state change, a time limit, majority reads not available yet.
 */
const transientCodes = new Set([6, 7, 89, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436, 262, 134]);

/**
 * A failure that says the servers cannot be reached or cannot serve now (no primary, an election, a
 * network error, a write concern not met in time): the store is unavailable, not wrong. The server
 * labels a write's transient errors RetryableWriteError; a read's are known by their codes.
 */
export const isUnavailable = (error: unknown): boolean =>
  error instanceof MongoNetworkError ||
  error instanceof MongoServerSelectionError ||
  error instanceof MongoNotConnectedError ||
  error instanceof MongoTopologyClosedError ||
  error instanceof MongoWriteConcernError ||
  (error instanceof MongoError &&
    (error.hasErrorLabel("RetryableWriteError") ||
      (typeof error.code === "number" && transientCodes.has(error.code))));
