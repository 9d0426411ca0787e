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
 * relays' clocks do not matter. One pipeline update on `_id` alone (the server allows no `$expr` in an
 * upsert's filter): every field keeps its value unless the lease is ours to take, all read from the
 * document as it was. The token stays while the holder renews and grows when the lease changes hands.
 */
export const tryLease = async (
  { leases }: Collections,
  name: string,
  owner: string,
  ttlMs: number,
): Promise<number | undefined> => {
  const ours = { $eq: ["$owner", owner] };
  const free = { $or: [ours, { $lte: [{ $ifNull: ["$expiresAt", new Date(0)] }, "$$NOW"] }] };
  const lease = await leases.findOneAndUpdate(
    { _id: name },
    [
      {
        $set: {
          owner: { $cond: [free, owner, "$owner"] },
          expiresAt: { $cond: [free, { $add: ["$$NOW", ttlMs] }, "$expiresAt"] },
          token: {
            $cond: [free, { $cond: [ours, "$token", { $add: [{ $ifNull: ["$token", 0] }, 1] }] }, "$token"],
          },
        },
      },
    ],
    { upsert: true, returnDocument: "after" },
  );
  return lease?.owner === owner ? lease.token : undefined;
};

/** Expired at once, not forgotten: the next holder's token must still be newer. */
export const releaseLease = async ({ leases }: Collections, name: string, owner: string): Promise<void> => {
  await leases.updateOne({ _id: name, owner }, [{ $set: { expiresAt: "$$NOW" } }]);
};
