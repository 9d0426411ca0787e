import { MongoServerError } from "mongodb";
import { type Collections, DUPLICATE_KEY, durable } from "./documents.ts";

export const loadCheckpoint = async (
  { checkpoints }: Collections,
  name: string,
): Promise<string | undefined> => (await checkpoints.findOne({ _id: name }))?.value;

export const saveCheckpoint = async (
  { checkpoints }: Collections,
  name: string,
  value: string,
): Promise<void> => {
  await checkpoints.updateOne({ _id: name }, { $set: { value } }, { upsert: true, ...durable });
};

export const tryLease = async (
  { leases }: Collections,
  name: string,
  owner: string,
  ttlMs: number,
): Promise<boolean> => {
  const now = new Date();
  try {
    // Matches only a lease we hold or one that expired; if another holds it, the upsert collides.
    await leases.updateOne(
      { _id: name, $or: [{ owner }, { expiresAt: { $lt: now } }] },
      { $set: { owner, expiresAt: new Date(now.getTime() + ttlMs) } },
      { upsert: true, ...durable },
    );
    return true;
  } catch (error) {
    if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return false;
    throw error;
  }
};

export const releaseLease = async ({ leases }: Collections, name: string, owner: string): Promise<void> => {
  await leases.deleteOne({ _id: name, owner });
};
