import { MongoBulkWriteError } from "mongodb";
import type { StoredOutcome } from "../outcome-store.ts";
import { type Collections, DUPLICATE_KEY, durable } from "./documents.ts";

export const findOutcome = async (
  { outcomes, commits }: Collections,
  key: string,
): Promise<StoredOutcome | undefined> => {
  const [standalone, commit] = await Promise.all([
    outcomes.findOne({ _id: key }),
    commits.findOne({ "outcomes.key": key }, { projection: { outcomes: 1 } }),
  ]);
  if (standalone) return { key, fingerprint: standalone.fingerprint, outcome: standalone.outcome };
  return commit?.outcomes?.find((o) => o.key === key);
};

export const saveOutcomes = async (
  collections: Collections,
  given: readonly StoredOutcome[],
): Promise<(StoredOutcome | undefined)[]> => {
  if (given.length === 0) return [];
  const docs = given.map((o) => ({ _id: o.key, fingerprint: o.fingerprint, outcome: o.outcome }));
  const taken = new Set<number>();
  try {
    await collections.outcomes.insertMany(docs, { ordered: false, ...durable });
  } catch (error) {
    // First writer wins: a key that is already there keeps its first outcome.
    const errors = error instanceof MongoBulkWriteError ? [error.writeErrors].flat() : [];
    if (errors.length === 0 || errors.some((e) => e.code !== DUPLICATE_KEY)) throw error;
    for (const e of errors) taken.add(e.index);
  }
  return Promise.all(
    given.map((o, i) => (taken.has(i) ? findOutcome(collections, o.key) : Promise.resolve(undefined))),
  );
};
