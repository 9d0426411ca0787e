import { MongoServerError } from "mongodb";
import type { Snapshot } from "../snapshot-store.ts";
import { type Collections, DUPLICATE_KEY } from "./documents.ts";

export const loadSnapshot = async (
  { snapshots }: Collections,
  streamId: string,
): Promise<Snapshot | undefined> => {
  const doc = await snapshots.findOne({ _id: streamId });
  return doc
    ? { streamId, version: doc.version, snapshotVersion: doc.snapshotVersion, state: doc.state }
    : undefined;
};

export const saveSnapshot = async ({ snapshots }: Collections, snapshot: Snapshot): Promise<void> => {
  try {
    await snapshots.updateOne(
      { _id: snapshot.streamId, version: { $lt: snapshot.version } },
      {
        $set: { version: snapshot.version, snapshotVersion: snapshot.snapshotVersion, state: snapshot.state },
      },
      { upsert: true },
    );
  } catch (error) {
    // A newer snapshot is already there: the upsert's insert collided with it, which is fine.
    if (!(error instanceof MongoServerError && error.code === DUPLICATE_KEY)) throw error;
  }
};
