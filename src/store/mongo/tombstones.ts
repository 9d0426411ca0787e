import { ObjectId } from "mongodb";
import { errorMessage } from "../../lib/errors.ts";
import { StoreUnavailableError } from "../event-store.ts";
import { bulkVerdicts, type Collections, range, type TombstoneDoc } from "./documents.ts";

/**
 * Most positions one tombstone takes. Its `positions` array is what the unique index holds, so a
 * hole is taken in pieces: one document over a hole of 1.3 M positions (a position counter restored
 * ahead of the commits) is 15.8 MB, and one of 1.5 M passes MongoDB's 16 MiB. 50 000 positions make
 * at most 0.8 MB.
 */
export const TOMBSTONE_SPAN = 50_000;

/** The tombstones that take every position from `from` to `to`, in order, none over `TOMBSTONE_SPAN`. */
export const tombstones = (from: number, to: number): TombstoneDoc[] => {
  const time = new Date();
  const docs: TombstoneDoc[] = [];
  for (let start = from; start <= to; start += TOMBSTONE_SPAN) {
    const end = Math.min(to, start + TOMBSTONE_SPAN - 1);
    docs.push({
      _id: new ObjectId(),
      kind: "tombstone",
      position: start,
      lastPosition: end,
      positions: range(start, end),
      time,
    });
  }
  return docs;
};

/**
 * Takes positions no event will take, in order: true once all of them are taken; false as soon as one
 * of them is taken already (by an append that landed, or another tombstone), the pieces before it
 * staying taken. Throws when the store could not say (the caller tries again, or counts it unsure).
 */
export const insertTombstones = async (
  { commits }: Collections,
  from: number,
  to: number,
): Promise<boolean> => {
  const docs = tombstones(from, to);
  try {
    await commits.insertMany(docs, { ordered: true });
    return true;
  } catch (error) {
    const { refused, unknown } = bulkVerdicts(error, docs.length);
    if (unknown.size === 0 && refused.size > 0 && [...refused.values()].every((e) => e.code === 11000)) {
      return false;
    }
    // The driver wraps whatever stopped the insert (no server, a write concern error): the store
    // cannot say now; the caller tries later, or counts the positions unsure.
    throw new StoreUnavailableError(`tombstoning positions ${from}-${to} failed: ${errorMessage(error)}`, {
      cause: error,
    });
  }
};
