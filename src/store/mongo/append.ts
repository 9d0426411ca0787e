import { BSON, ObjectId, type WriteError } from "mongodb";
import { type Deadline, noDeadline } from "../../lib/deadline.ts";
import { errorMessage } from "../../lib/errors.ts";
import {
  type AppendRequest,
  type AppendResult,
  AppendTooLargeError,
  StoreOutcomeUnknownError,
  StoreUnavailableError,
} from "../event-store.ts";
import { bulkVerdicts, type Collections, duplicateIndex, type EventsDoc, range } from "./documents.ts";
import { streamVersion } from "./read.ts";
import { insertTombstones } from "./tombstones.ts";

/** An append's result, or why it failed (each append of a batch is answered on its own). */
export type Written = AppendResult | { readonly failed: Error };

/** MongoDB refuses a document over 16 MiB; the insert command around it needs some room too. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024 - 16 * 1024;

/** A write whose outcome the driver could not tell is settled by reading it back this often, this far apart. */
const SETTLE_READS = 5;
const SETTLE_PAUSE_MS = 200;
/** Appends whose positions a reader tombstoned (it gave up waiting for them) are written again, at most so often. */
export const POSITION_ATTEMPTS = 3;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Positions come from one counter, incremented once per batch. They are unique, but a batch may become
 * visible after a later one, and a failed append leaves positions no event takes: the writer tombstones
 * its own at once, and a reader tombstones what stays empty past its grace (see `read.ts`).
 */
export const assignPositions = async ({ counters }: Collections, count: number): Promise<number> => {
  const counter = await counters.findOneAndUpdate(
    { _id: "position" },
    { $inc: { value: count } },
    { upsert: true, returnDocument: "after" },
  );
  return (counter?.value ?? count) - count + 1;
};

/**
 * What became of documents whose insert the driver could not tell (a write concern error, a network
 * error, a time-out): read back together by `_id` with a majority read until they show; those that
 * never do have their positions taken by a tombstone, so that they can never land late: not written.
 * One whose tombstone collides with itself (written, not yet seen by a majority) stays unknown.
 */
export const settle = async (
  collections: Collections,
  docs: readonly EventsDoc[],
  deadline: Deadline,
): Promise<Map<EventsDoc, "written" | "absent" | "unknown">> => {
  const verdicts = new Map<EventsDoc, "written" | "absent" | "unknown">();
  let left = [...docs];
  for (let read = 1; read <= SETTLE_READS && left.length > 0; read++) {
    try {
      const found = await collections.commits
        .find({ _id: { $in: left.map((d) => d._id) } }, { projection: { _id: 1 } })
        .toArray();
      const seen = new Set(found.map((f) => String(f._id)));
      for (const doc of left) if (seen.has(String(doc._id))) verdicts.set(doc, "written");
      left = left.filter((doc) => !verdicts.has(doc));
    } catch {
      // The same trouble as the write's: try again after the pause.
    }
    const pause = SETTLE_PAUSE_MS * read;
    if (read < SETTLE_READS && left.length > 0) {
      if (deadline.left() < pause) break;
      await sleep(pause);
    }
  }
  if (deadline.left() <= 0) {
    // No time left to make sure: the caller is answered "unknown" rather than waiting on.
    for (const doc of left) verdicts.set(doc, "unknown");
    return verdicts;
  }
  await Promise.all(
    left.map(async (doc) => {
      try {
        if (await insertTombstones(collections, doc.position, doc.lastPosition)) {
          verdicts.set(doc, "absent");
          return;
        }
        // Taken: by our document (written, not yet seen by a majority) or by a reader's tombstone.
        const local = await collections.commits.findOne(
          { _id: doc._id },
          { projection: { _id: 1 }, readConcern: { level: "local" } },
        );
        verdicts.set(doc, local ? "unknown" : "absent");
      } catch {
        verdicts.set(doc, "unknown");
      }
    }),
  );
  return verdicts;
};

type Insert =
  | { kind: "written" }
  | { kind: "duplicate"; index: string | undefined }
  | { kind: "failed"; error: Error };

/** Inserts the documents unordered and says, for each, what became of it, settling every unsure one. */
const insertAll = async (
  collections: Collections,
  docs: readonly EventsDoc[],
  deadline: Deadline,
): Promise<Insert[]> => {
  try {
    await collections.commits.insertMany(docs as EventsDoc[], { ordered: false });
    return docs.map(() => ({ kind: "written" }));
  } catch (error) {
    const { refused, unknown } = bulkVerdicts(error, docs.length);
    const settled = await settle(
      collections,
      docs.filter((_, i) => unknown.has(i)),
      deadline,
    );
    const cause = errorMessage(error);
    return docs.map((doc, i): Insert => {
      const refusal: WriteError | undefined = refused.get(i);
      if (refusal) {
        if (refusal.code !== 11000) {
          // The server refused this document: not written, whatever the reason.
          const why = refusal.errmsg ?? `code ${refusal.code}`;
          return { kind: "failed", error: new StoreUnavailableError(`the append was refused: ${why}`) };
        }
        const index = duplicateIndex(refusal.errmsg);
        // Our own `_id` can only collide with our own document: written by an attempt the driver retried.
        return index === "_id_" ? { kind: "written" } : { kind: "duplicate", index };
      }
      const verdict = settled.get(doc);
      if (verdict === undefined || verdict === "written") return { kind: "written" };
      return {
        kind: "failed",
        error:
          verdict === "absent"
            ? new StoreUnavailableError(`the append was not written: ${cause}`)
            : new StoreOutcomeUnknownError(`the append may or may not be written: ${cause}`),
      };
    });
  }
};

/**
 * The stream versions a majority has, for the appends that say they follow one: an append whose
 * expected version is not the stream's is refused before it is written (the unique index on each
 * event's version catches one that is behind; this one, ahead). One indexed look-up of each stream's
 * last commit, so an append costs the same on a stream of a hundred thousand commits as on a new one.
 */
const currentVersions = async (
  collections: Collections,
  streamIds: readonly string[],
): Promise<Map<string, number>> =>
  new Map(
    await Promise.all(streamIds.map(async (id) => [id, await streamVersion(collections, id)] as const)),
  );

/** Why an append lost a race, read after the fact; a failed read fails that append alone. */
export const conflict = async (
  collections: Collections,
  request: AppendRequest,
  index: string | undefined,
): Promise<Written> => {
  try {
    if (index === "outcome_key") {
      const keys = (request.outcomes ?? []).map((o) => o.key);
      const taken = await collections.commits.findOne(
        { "outcomes.key": { $in: keys } },
        { projection: { outcomes: 1 } },
      );
      const key =
        taken?.kind === "tombstone" ? undefined : taken?.outcomes?.find((o) => keys.includes(o.key))?.key;
      return { ok: false, reason: "idempotency_conflict", key: key ?? keys[0] ?? "" };
    }
    if (index === "stream_event_version") {
      const actualVersion = await streamVersion(collections, request.streamId);
      return { ok: false, reason: "version_conflict", actualVersion };
    }
    // `positions` after every attempt: readers kept tombstoning them first. Not written either way.
    return {
      failed: new StoreUnavailableError(`the append collided on ${index ?? "an unknown index"}; not written`),
    };
  } catch (error) {
    return {
      failed: new StoreUnavailableError(`reading why an append lost a race failed: ${errorMessage(error)}`),
    };
  }
};

export const eventsDoc = (request: AppendRequest, position: number, time: Date): EventsDoc => ({
  _id: new ObjectId(),
  kind: "events",
  streamId: request.streamId,
  aggregateType: request.aggregateType,
  version: request.expectedVersion + 1,
  lastVersion: request.expectedVersion + request.events.length,
  position,
  lastPosition: position + request.events.length - 1,
  positions: range(position, position + request.events.length - 1),
  time,
  final: request.final ?? false,
  events: request.events.map((event, i) => ({ ...event, version: request.expectedVersion + 1 + i })),
  ...(request.outcomes?.length ? { outcomes: [...request.outcomes] } : {}),
});

/**
 * Writes a batch of appends (each with events, none with `dependsOn`): one unordered `insertMany`,
 * each append answered on its own. An append is reported written only once a majority has it; one
 * that lost a race is told why; one too large fails alone; one the driver could not tell is settled
 * before it is answered; positions that no event took are tombstoned at once, so readers need not
 * wait for them. It never throws: an append that cannot be written is answered
 * `StoreUnavailableError` (surely not written) or `StoreOutcomeUnknownError` (it may be), and none
 * waits on past `deadline`.
 */
export interface WriteBatchOptions {
  /** No append waits on past it: what is not sent by then fails as not written, what is, as unknown. */
  readonly deadline?: Deadline;
  /**
   * Asked just before appends are sent (the batch's indexes): those that may still go. An append whose
   * caller was already answered "not written" must not be written after all.
   */
  readonly claim?: (indexes: readonly number[]) => readonly number[];
}

export const writeBatch = async (
  collections: Collections,
  batch: readonly AppendRequest[],
  { deadline = noDeadline, claim = (indexes) => indexes }: WriteBatchOptions = {},
): Promise<Written[]> => {
  const results: (Written | undefined)[] = batch.map(() => undefined);
  let pending: number[] = [];
  for (const [i, request] of batch.entries()) {
    if (request.dependsOn?.length) {
      // Its check needs a transaction (`dependent.ts`): written here, it would go unchecked.
      results[i] = { failed: new Error("an append with dependsOn cannot be written in a batch") };
      continue;
    }
    const bytes = BSON.calculateObjectSize(eventsDoc(request, 0, new Date()));
    if (bytes > MAX_DOCUMENT_BYTES) {
      results[i] = {
        failed: new AppendTooLargeError(
          `the append is ${bytes} bytes, more than the ${MAX_DOCUMENT_BYTES} of a MongoDB document`,
        ),
      };
    } else pending.push(i);
  }
  /** Fails what is still pending: nothing of it was written. */
  const notWritten = (why: unknown) => {
    for (const i of pending) {
      results[i] = {
        failed: new StoreUnavailableError(`the event store cannot write: ${errorMessage(why)}`, {
          cause: why,
        }),
      };
    }
    pending = [];
  };

  try {
    await listStarting(
      collections,
      pending.map((i) => batch[i] as AppendRequest),
    );
    const following = [
      ...new Set(
        pending
          .map((i) => batch[i] as AppendRequest)
          .filter((r) => r.expectedVersion > 0)
          .map((r) => r.streamId),
      ),
    ];
    const versions = await currentVersions(collections, following);
    pending = pending.filter((i) => {
      const request = batch[i] as AppendRequest;
      if (request.expectedVersion === 0) return true;
      const actualVersion = versions.get(request.streamId) ?? 0;
      if (actualVersion === request.expectedVersion) return true;
      results[i] = { ok: false, reason: "version_conflict", actualVersion };
      return false;
    });
  } catch (error) {
    notWritten(error);
  }

  for (let attempt = 1; pending.length > 0; attempt++) {
    if (deadline.left() <= 0) {
      notWritten(new Error("the deadline passed before the append was sent"));
      break;
    }
    const claimed = new Set(claim(pending));
    for (const i of pending) {
      if (!claimed.has(i)) results[i] = { failed: new StoreUnavailableError("the append was abandoned") };
    }
    pending = pending.filter((i) => claimed.has(i));
    if (pending.length === 0) break;
    const count = pending.reduce((n, i) => n + (batch[i] as AppendRequest).events.length, 0);
    let position: number;
    try {
      position = await assignPositions(collections, count);
    } catch (error) {
      // Only what is still pending fails: appends written by an earlier attempt stay written.
      notWritten(error);
      break;
    }
    const time = new Date();
    const docs = pending.map((i) => {
      const request = batch[i] as AppendRequest;
      const doc = eventsDoc(request, position, time);
      position += request.events.length;
      return doc;
    });
    const inserted = await insertAll(collections, docs, deadline);
    const again: number[] = [];
    const unused: EventsDoc[] = [];
    await Promise.all(
      inserted.map(async (outcome, k) => {
        const i = pending[k] as number;
        const doc = docs[k] as EventsDoc;
        const request = batch[i] as AppendRequest;
        if (outcome.kind === "written") {
          results[i] = { ok: true, version: doc.lastVersion, time: time.toISOString() };
          return;
        }
        // Not written (or unsure): its positions are tombstoned, which also keeps an unsure one from
        // landing late (it collides); a written one makes the tombstone collide instead.
        unused.push(doc);
        if (outcome.kind === "failed") {
          results[i] = { failed: outcome.error };
          return;
        }
        if (outcome.index === "positions" && attempt < POSITION_ATTEMPTS) again.push(i);
        else results[i] = await conflict(collections, request, outcome.index);
      }),
    );
    // The writer fills the positions it will not use itself, at once, while there is time; else (or
    // should that fail) a reader will, after its grace.
    if (deadline.left() > 0) {
      await Promise.all(
        unused.map((doc) => insertTombstones(collections, doc.position, doc.lastPosition).catch(() => false)),
      );
    }
    pending = again;
  }

  const written = (i: number) => {
    const result = results[i];
    return result !== undefined && "ok" in result && result.ok;
  };
  const finished = batch.filter((r, i) => r.final && r.expectedVersion > 0 && written(i));
  if (finished.length > 0) {
    await collections.nonFinal.deleteMany({ _id: { $in: finished.map((r) => r.streamId) } }).catch(() => {});
  }
  return results.map((r) => r ?? { failed: new StoreUnavailableError("the append was not attempted") });
};

/**
 * Lists the streams that start here before their first commit, so no crash leaves an unfinished
 * stream unlisted (a listed stream that is final is harmless: resuming it finds nothing to do).
 */
export const listStarting = async ({ nonFinal }: Collections, requests: readonly AppendRequest[]) => {
  const starting = requests.filter((r) => r.expectedVersion === 0 && !r.final);
  if (starting.length === 0) return;
  await nonFinal.bulkWrite(
    starting.map((r) => ({
      updateOne: {
        filter: { _id: r.streamId },
        update: { $setOnInsert: { aggregateType: r.aggregateType } },
        upsert: true,
      },
    })),
    { ordered: false },
  );
};
