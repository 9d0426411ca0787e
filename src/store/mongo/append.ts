import { MongoBulkWriteError, type WriteError } from "mongodb";
import type { AppendRequest, AppendResult } from "../event-store.ts";
import { type Collections, type CommitDoc, DUPLICATE_KEY, durable } from "./documents.ts";
import { streamInfo } from "./read.ts";

/** An append's result, or why its batch failed (the batcher resolves each request on its own). */
export type Written = AppendResult | { readonly failed: Error };

/**
 * Positions come from one counter, incremented once per batch. They are unique and increase within a
 * process, but a failed append leaves a hole and two processes may commit out of position order: the
 * reader (`readAll`) waits for a hole to fill before passing it.
 */
const assignPositions = async ({ counters }: Collections, count: number): Promise<number> => {
  const counter = await counters.findOneAndUpdate(
    { _id: "position" },
    { $inc: { value: count } },
    { upsert: true, returnDocument: "after", ...durable },
  );
  return (counter?.value ?? count) - count + 1;
};

/** One unordered `insertMany` for a batch of appends: each succeeds or fails on its own. */
export const writeBatch = async (
  collections: Collections,
  batch: readonly AppendRequest[],
): Promise<Written[]> => {
  const eventCount = batch.reduce((n, r) => n + r.events.length, 0);
  let position = await assignPositions(collections, Math.max(1, eventCount));
  const time = new Date();
  const docs: CommitDoc[] = batch.map((request) => {
    const doc: CommitDoc = {
      streamId: request.streamId,
      aggregateType: request.aggregateType,
      version: request.expectedVersion + 1,
      lastVersion: request.expectedVersion + request.events.length,
      position,
      lastPosition: position + request.events.length - 1,
      time,
      final: request.final ?? false,
      events: request.events.map((event, i) => ({ ...event, version: request.expectedVersion + 1 + i })),
      ...(request.outcomes?.length ? { outcomes: [...request.outcomes] } : {}),
    };
    position += request.events.length;
    return doc;
  });

  const failures = new Map<number, WriteError>();
  try {
    await collections.commits.insertMany(docs, { ordered: false, ...durable });
  } catch (error) {
    if (!(error instanceof MongoBulkWriteError)) throw error;
    const errors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
    for (const e of errors) failures.set(e.index, e);
    // No per-document error (e.g. the write concern failed): durability is unknown for all of them.
    if (failures.size === 0) throw error;
  }

  return Promise.all(
    batch.map(async (request, i): Promise<Written> => {
      const failure = failures.get(i);
      const doc = docs[i];
      if (!doc) return { failed: new Error("batch and documents out of step") };
      if (!failure) return { ok: true, version: doc.lastVersion, time: time.toISOString() };
      if (failure.code !== DUPLICATE_KEY) return { failed: new Error(failure.errmsg ?? "write failed") };
      if (failure.errmsg?.includes("outcome_key")) {
        const keys = (request.outcomes ?? []).map((o) => o.key);
        const taken = await collections.commits.findOne(
          { "outcomes.key": { $in: keys } },
          { projection: { outcomes: 1 } },
        );
        const key = taken?.outcomes?.find((o) => keys.includes(o.key))?.key ?? keys[0] ?? "";
        return { ok: false, reason: "idempotency_conflict", key };
      }
      const actual = await streamInfo(collections, request.streamId);
      return { ok: false, reason: "version_conflict", actualVersion: actual?.version ?? 0 };
    }),
  );
};
