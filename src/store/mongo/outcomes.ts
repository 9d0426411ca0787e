import { type AnyBulkWriteOperation, MongoBulkWriteError, ObjectId } from "mongodb";
import { errorMessage } from "../../lib/errors.ts";
import {
  type AppendRequest,
  type AppendResult,
  StoreOutcomeUnknownError,
  StoreUnavailableError,
} from "../event-store.ts";
import type { StoredOutcome } from "../outcome-store.ts";
import {
  bulkVerdicts,
  type Collections,
  type CommitDoc,
  duplicateIndex,
  type OutcomesDoc,
} from "./documents.ts";
import { streamVersion } from "./read.ts";

/** The one outcome a key holds, whether it came with events or alone: one query, one unique index. */
export const findOutcome = async (
  { commits }: Collections,
  key: string,
): Promise<StoredOutcome | undefined> => {
  const doc = await commits.findOne({ "outcomes.key": key }, { projection: { kind: 1, outcomes: 1 } });
  return doc && doc.kind !== "tombstone" ? doc.outcomes?.find((o) => o.key === key) : undefined;
};

/**
 * Waits until a majority shows the outcome under `key`: a duplicate key is checked on the primary, so
 * the outcome that refused ours may not be visible to a majority read for a moment, and an actor told
 * "taken" that then reads nothing would decide again in a loop.
 */
export const visible = async (collections: Collections, key: string): Promise<void> => {
  for (let read = 1; read <= 5; read++) {
    if (await findOutcome(collections, key)) return;
    await new Promise((resolve) => setTimeout(resolve, 100 * read));
  }
  throw new StoreUnavailableError(
    `the outcome under ${key} refused a write but a majority does not show it yet`,
  );
};

/** An outcome-only append's documents: one per outcome, each guarded by the stream's version. */
export const outcomeDocs = (request: AppendRequest, time: Date): OutcomesDoc[] =>
  (request.outcomes ?? []).map((o) => ({
    _id: new ObjectId(),
    kind: "outcomes",
    streamId: request.streamId,
    time,
    outcomes: [o],
  }));

/**
 * The write of one outcome document: an upsert that inserts it only while the stream has no commit
 * past the version the outcome was decided on (see `appendOutcomes`).
 */
export const guardedUpsert = ({ streamId, expectedVersion }: AppendRequest, doc: OutcomesDoc) => ({
  filter: { kind: "events" as const, streamId, lastVersion: { $gt: expectedVersion } },
  update: { $setOnInsert: doc },
  upsert: true,
  hint: "stream_last_version",
});

/**
 * An append without events: it keeps outcomes only (refusals, no-ops), each in a document of its own,
 * so that one taken key does not refuse the others.
 *
 * Each is written by an upsert whose filter is the stream's commits past the version it was decided
 * on: the primary runs it against its newest data, not a majority's snapshot, so a commit that a
 * majority read does not show yet (right after a failover, while the new primary's majority point
 * still lags) matches, and then nothing is inserted and the append is a version conflict. A majority
 * read alone would let a refusal decided on a stale state be kept under its key for good. A commit
 * landing after the upsert read is one decided on the same version, ordered after the outcome: both
 * stand. The majority read beforehand only refuses an append that is ahead of the stream.
 */
export const appendOutcomes = async (
  collections: Collections,
  request: AppendRequest,
): Promise<AppendResult> => {
  // Its check needs a transaction (`dependent.ts`): written here, it would go unchecked.
  if (request.dependsOn?.length)
    throw new Error("an append with dependsOn cannot be written without its check");
  const { streamId, expectedVersion } = request;
  const version = await streamVersion(collections, streamId);
  if (version !== expectedVersion) return { ok: false, reason: "version_conflict", actualVersion: version };
  const given = request.outcomes ?? [];
  if (given.length === 0) return { ok: true, version: expectedVersion, time: new Date().toISOString() };

  const time = new Date();
  const docs = outcomeDocs(request, time);
  const guarded = docs.map(
    (doc): AnyBulkWriteOperation<CommitDoc> => ({ updateOne: guardedUpsert(request, doc) }),
  );

  let upserted: Set<number>;
  const taken = new Set<number>();
  try {
    const result = await collections.commits.bulkWrite(guarded, { ordered: false });
    upserted = new Set(Object.keys(result.upsertedIds).map(Number));
  } catch (error) {
    if (!(error instanceof MongoBulkWriteError)) throw error;
    upserted = new Set(Object.keys(error.result?.upsertedIds ?? {}).map(Number));
    const { refused, unknown } = bulkVerdicts(error, docs.length);
    // With the server's reply (a write concern error), what it upserted is known, and only that is
    // unsure; without one (a network error), every write that was not refused is.
    const replied = error.result?.getWriteConcernError?.() !== undefined;
    const unsure = replied ? [...upserted] : [...unknown];
    const confirmed = await Promise.all(
      unsure.map((i) =>
        collections.commits
          .findOne({ _id: (docs[i] as OutcomesDoc)._id }, { projection: { _id: 1 } })
          .then((found) => found !== null)
          .catch(() => false),
      ),
    );
    const unconfirmed = unsure.filter((_, k) => !confirmed[k]);
    for (const i of unsure) if (!unconfirmed.includes(i)) upserted.add(i);
    const otherRefusal = [...refused].find(
      ([, e]) => !(e.code === 11000 && duplicateIndex(e.errmsg) === "outcome_key"),
    );
    if (unconfirmed.length > 0 || (otherRefusal && upserted.size > 0)) {
      throw new StoreOutcomeUnknownError(
        `an outcome's write could not be confirmed (it may be kept): ${errorMessage(error)}`,
        { cause: error },
      );
    }
    if (otherRefusal) {
      // Refused, and nothing else of this append kept.
      const [, e] = otherRefusal;
      throw new StoreUnavailableError(`an outcome was refused: ${e.errmsg ?? `code ${e.code}`}`);
    }
    for (const i of refused.keys()) taken.add(i);
  }

  const key = [...taken].map((i) => (given[i] as StoredOutcome).key)[0];
  if (key !== undefined) {
    await visible(collections, key);
    return { ok: false, reason: "idempotency_conflict", key };
  }
  if (upserted.size < docs.length) {
    // The rest matched a commit past the expected version: the stream moved on, and they were not
    // kept (those upserted before it landed stand: they were decided on the version then current).
    // The caller reloads the stream; its version is at least the next one.
    return { ok: false, reason: "version_conflict", actualVersion: expectedVersion + 1 };
  }
  return { ok: true, version: expectedVersion, time: time.toISOString() };
};
