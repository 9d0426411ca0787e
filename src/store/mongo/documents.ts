import type { Collection, Db } from "mongodb";
import type { EventEnvelope, EventMetadata } from "../envelope.ts";
import type { StoredOutcome } from "../outcome-store.ts";

/**
 * One document per append: MongoDB writes a single document atomically, so all events of a command
 * land together or not at all without a multi-document transaction, and a batch of appends from many
 * actors is one unordered `insertMany` (one round trip) in which each append succeeds or fails alone.
 *
 * `{streamId, version}` is unique, where `version` is the commit's first event number. Writers only
 * ever append after a version they read, which is always a commit boundary, so two writers racing from
 * the same version collide on this index and exactly one wins.
 */
export interface CommitDoc {
  streamId: string;
  aggregateType: string;
  /** First and last event number in this commit. */
  version: number;
  lastVersion: number;
  /** Global order of the commit's first and last event (see `append.ts`). */
  position: number;
  lastPosition: number;
  time: Date;
  final: boolean;
  events: {
    eventId: string;
    type: string;
    version: number;
    schemaVersion: number;
    data: unknown;
    metadata: EventMetadata;
  }[];
  /** Outcomes kept under idempotency keys, written with the events; `outcomes.key` is unique. */
  outcomes?: StoredOutcome[];
}

export interface OutcomeDoc {
  _id: string;
  fingerprint: string;
  outcome: unknown;
}

export interface SnapshotDoc {
  _id: string;
  version: number;
  snapshotVersion: number;
  state: unknown;
}

/** The collections of one eventfold database. */
export interface Collections {
  readonly commits: Collection<CommitDoc>;
  readonly outcomes: Collection<OutcomeDoc>;
  readonly snapshots: Collection<SnapshotDoc>;
  readonly counters: Collection<{ _id: string; value: number }>;
  readonly checkpoints: Collection<{ _id: string; value: string }>;
  readonly leases: Collection<{ _id: string; owner: string; expiresAt: Date }>;
}

export const collections = (db: Db): Collections => ({
  commits: db.collection("commits"),
  outcomes: db.collection("outcomes"),
  snapshots: db.collection("snapshots"),
  counters: db.collection("counters"),
  checkpoints: db.collection("checkpoints"),
  leases: db.collection("leases"),
});

/** Idempotent: creating an index that exists with the same spec is a no-op. */
export const ensureIndexes = async ({ commits }: Collections): Promise<void> => {
  await Promise.all([
    commits.createIndex({ streamId: 1, version: 1 }, { unique: true, name: "stream_version" }),
    commits.createIndex({ lastPosition: 1 }, { name: "position" }),
    commits.createIndex({ aggregateType: 1, streamId: 1 }, { name: "aggregate_type" }),
    commits.createIndex(
      { "outcomes.key": 1 },
      { unique: true, name: "outcome_key", partialFilterExpression: { "outcomes.key": { $exists: true } } },
    ),
  ]);
};

/** Writes acknowledged by a majority, journaled: what "durable" means for an append. */
export const durable = { writeConcern: { w: "majority" as const, j: true } };
export const DUPLICATE_KEY = 11000;

export const toEnvelope = (commit: CommitDoc, index: number): EventEnvelope => {
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
