import { MongoServerError } from "mongodb";
import { FencedError } from "../relay-store.ts";
import { type Collections, isDuplicateKey } from "./documents.ts";

export const loadCheckpoint = async (
  { checkpoints }: Collections,
  name: string,
): Promise<string | undefined> => (await checkpoints.findOne({ _id: name }))?.value;

/**
 * Saved unless a newer lease's token saved it since: the filter then matches nothing, and the upsert's
 * insert collides with the document that is there.
 */
export const saveCheckpoint = async (
  { checkpoints }: Collections,
  name: string,
  value: string,
  fence = 0,
): Promise<void> => {
  try {
    await checkpoints.updateOne(
      { _id: name, $or: [{ fence: { $lte: fence } }, { fence: { $exists: false } }] },
      { $set: { value, fence } },
      { upsert: true },
    );
  } catch (error) {
    if (isDuplicateKey(error)) throw new FencedError(`${name}: saved under a newer lease`);
    throw error;
  }
};

/**
 * Takes a free or expired lease, or renews our own, judged by the server's clock (`$$NOW`), so the
 * relays' clocks do not matter. The token stays while the holder renews and grows when the lease
 * changes hands. Held by another: the filter matches nothing and the upsert's insert collides.
 */
export const tryLease = async (
  { leases }: Collections,
  name: string,
  owner: string,
  ttlMs: number,
): Promise<number | undefined> => {
  try {
    const lease = await leases.findOneAndUpdate(
      { _id: name, $expr: { $or: [{ $eq: ["$owner", owner] }, { $lt: ["$expiresAt", "$$NOW"] }] } },
      [
        {
          $set: {
            token: {
              $cond: [{ $eq: ["$owner", owner] }, "$token", { $add: [{ $ifNull: ["$token", 0] }, 1] }],
            },
            owner,
            expiresAt: { $add: ["$$NOW", ttlMs] },
          },
        },
      ],
      { upsert: true, returnDocument: "after" },
    );
    return lease?.owner === owner ? lease.token : undefined;
  } catch (error) {
    if (error instanceof MongoServerError && isDuplicateKey(error)) return undefined;
    throw error;
  }
};

/** Expired at once, not forgotten: the next holder's token must still be newer. */
export const releaseLease = async ({ leases }: Collections, name: string, owner: string): Promise<void> => {
  await leases.updateOne({ _id: name, owner }, [{ $set: { expiresAt: "$$NOW" } }]);
};
