import type { EventEnvelope } from "../envelope.ts";
import type { ReadStreamOptions, StreamInfo } from "../event-store.ts";
import { type Collections, toEnvelope } from "./documents.ts";

export const readStream = async (
  { commits }: Collections,
  streamId: string,
  options: ReadStreamOptions = {},
): Promise<EventEnvelope[]> => {
  const after = options.after ?? 0;
  const upTo = options.upTo ?? Number.MAX_SAFE_INTEGER;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const cursor = commits
    .find({ streamId, lastVersion: { $gt: after }, version: { $lte: upTo } })
    .sort({ version: 1 });
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
  const last = await commits.find({ streamId }).sort({ version: -1 }).limit(1).next();
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
 * Positions come from a counter before the insert, so a commit can become visible after one with a
 * higher position (another batch still in flight), and an append that lost a clash leaves a hole for
 * good. Reading stops at a hole until it is `holeGraceMs` old: by then the writer either finished or
 * failed, and the relay does not skip a commit that was merely slow.
 */
export const readAll = async (
  { commits }: Collections,
  after: number,
  limit: number,
  holeGraceMs: number,
): Promise<EventEnvelope[]> => {
  const cursor = commits.find({ lastPosition: { $gt: after } }).sort({ lastPosition: 1 });
  const out: EventEnvelope[] = [];
  const settledBefore = Date.now() - holeGraceMs;
  let next = after + 1;
  for await (const commit of cursor) {
    if (commit.position > next && commit.time.getTime() > settledBefore) break;
    for (let i = 0; i < commit.events.length && out.length < limit; i++) {
      if (commit.position + i > after) out.push(toEnvelope(commit, i));
    }
    next = commit.lastPosition + 1;
    if (out.length >= limit) break;
  }
  await cursor.close();
  return out;
};

export const headPosition = async ({ commits }: Collections): Promise<number> => {
  const last = await commits.find().sort({ lastPosition: -1 }).limit(1).next();
  return last?.lastPosition ?? 0;
};

export async function* nonFinalStreams(
  { commits }: Collections,
  aggregateType: string,
): AsyncIterable<string> {
  const cursor = commits.aggregate<{ _id: string }>(
    [
      { $match: { aggregateType } },
      { $group: { _id: "$streamId", final: { $max: "$final" } } },
      { $match: { final: false } },
    ],
    { allowDiskUse: true },
  );
  for await (const row of cursor) yield row._id;
}
