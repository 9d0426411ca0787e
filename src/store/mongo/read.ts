import type { ClientSession } from "mongodb";
import type { EventEnvelope } from "../envelope.ts";
import type { ReadStreamOptions, StreamInfo } from "../event-store.ts";
import { type Collections, type EventsDoc, toEnvelope } from "./documents.ts";

export const readStream = async (
  { commits }: Collections,
  streamId: string,
  options: ReadStreamOptions = {},
): Promise<EventEnvelope[]> => {
  const after = options.after ?? 0;
  const upTo = options.upTo ?? Number.MAX_SAFE_INTEGER;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  // By the last version, so the index skips every commit that ends at or before `after`.
  const cursor = commits
    .find<EventsDoc>({ kind: "events", streamId, lastVersion: { $gt: after }, version: { $lte: upTo } })
    .sort({ lastVersion: 1 })
    .hint("stream_last_version");
  const out: EventEnvelope[] = [];
  for await (const commit of cursor) {
    for (const [i, event] of commit.events.entries()) {
      if (event.version <= after || event.version > upTo) continue;
      out.push(toEnvelope(commit, i));
      if (out.length >= limit) {
        await cursor.close();
        return out;
      }
    }
  }
  return out;
};

export const streamInfo = async (
  { commits }: Collections,
  streamId: string,
): Promise<StreamInfo | undefined> => {
  const last = await commits
    .find<EventsDoc>({ kind: "events", streamId })
    .sort({ lastVersion: -1 })
    .hint("stream_last_version")
    .limit(1)
    .next();
  return last
    ? {
        streamId,
        aggregateType: last.aggregateType,
        version: last.lastVersion,
        updatedAt: last.time.toISOString(),
        final: last.final,
      }
    : undefined;
};

/**
 * The version of a stream's last commit, 0 for none: one entry of `stream_last_version`, read from
 * the end, and only that field of the one commit it points to. With `session`, inside its transaction
 * (at the transaction's snapshot); without, a majority read of its own.
 */
export const streamVersion = async (
  { commits }: Collections,
  streamId: string,
  session?: ClientSession,
): Promise<number> => {
  const last = await commits
    .find<{ lastVersion: number }>(
      { kind: "events", streamId },
      { projection: { _id: 0, lastVersion: 1 }, ...(session ? { session } : {}) },
    )
    .sort({ lastVersion: -1 })
    .hint("stream_last_version")
    .limit(1)
    .next();
  return last?.lastVersion ?? 0;
};

/** The last position an event holds (a tombstone holds none: nothing to wait for there). */
export const headPosition = async ({ commits }: Collections): Promise<number> => {
  const last = await commits
    .find<{ lastPosition: number }>(
      { kind: "events", lastPosition: { $exists: true } },
      { projection: { lastPosition: 1 } },
    )
    .sort({ lastPosition: -1 })
    .limit(1)
    .next();
  return last?.lastPosition ?? 0;
};

export async function* nonFinalStreams(
  { nonFinal }: Collections,
  aggregateType: string,
): AsyncIterable<string> {
  for await (const row of nonFinal.find({ aggregateType }, { projection: { _id: 1 } })) yield row._id;
}
