import { ObjectId } from "mongodb";
import { errorMessage } from "../../lib/errors.ts";
import { StoreUnavailableError } from "../event-store.ts";
import type { StoredOutcome } from "../outcome-store.ts";
import { bulkVerdicts, type Collections, duplicateIndex, type OutcomesDoc } from "./documents.ts";

/** The one outcome a key holds, whether it came with events or alone: one query, one unique index. */
export const findOutcome = async (
  { commits }: Collections,
  key: string,
): Promise<StoredOutcome | undefined> => {
  const doc = await commits.findOne({ "outcomes.key": key }, { projection: { kind: 1, outcomes: 1 } });
  return doc && doc.kind !== "tombstone" ? doc.outcomes?.find((o) => o.key === key) : undefined;
};

/**
 * The outcome a key holds, once a majority shows it: a duplicate key is checked on the primary, so
 * the outcome that refused ours may not be visible to a majority read for a moment. Never "none" for
 * a key that refused a write: if it does not show, the store is unavailable.
 */
const visibleOutcome = async (collections: Collections, key: string): Promise<StoredOutcome> => {
  for (let read = 1; read <= 5; read++) {
    const found = await findOutcome(collections, key);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100 * read));
  }
  throw new StoreUnavailableError(
    `the outcome under ${key} refused a write but a majority does not show it yet`,
  );
};

/**
 * Outcomes without events, one document each (so that one taken key does not refuse the others). A key
 * that holds an outcome already refuses the insert, with events or without: that earlier one is the
 * answer. An insert the driver could not tell about is read back; still unsure, it is reported as the
 * store being unavailable, and the caller's retry finds out.
 */
export const saveOutcomes = async (
  collections: Collections,
  given: readonly StoredOutcome[],
): Promise<(StoredOutcome | undefined)[]> => {
  if (given.length === 0) return [];
  const time = new Date();
  const docs: OutcomesDoc[] = given.map((o) => ({
    _id: new ObjectId(),
    kind: "outcomes",
    time,
    outcomes: [o],
  }));
  const refusedAt = new Set<number>();
  let unsure = new Set<number>();
  try {
    await collections.commits.insertMany(docs, { ordered: false });
  } catch (error) {
    const { refused, unknown } = bulkVerdicts(error, docs.length);
    for (const [i, e] of refused) {
      const index = duplicateIndex(e.errmsg);
      if (e.code !== 11000 || (index !== "outcome_key" && index !== "_id_")) throw error;
      if (index === "outcome_key") refusedAt.add(i);
    }
    unsure = unknown;
    for (const i of unsure) {
      const doc = docs[i] as OutcomesDoc;
      const mine = await collections.commits
        .findOne({ _id: doc._id }, { projection: { _id: 1 } })
        .catch(() => null);
      if (mine) continue;
      const earlier = await findOutcome(collections, (given[i] as StoredOutcome).key).catch(() => undefined);
      if (!earlier) {
        throw new StoreUnavailableError(`the outcome's write could not be confirmed: ${errorMessage(error)}`);
      }
      refusedAt.add(i);
    }
  }
  return Promise.all(
    given.map(async (o, i) => (refusedAt.has(i) ? visibleOutcome(collections, o.key) : undefined)),
  );
};
