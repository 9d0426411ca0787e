import {
  BSON,
  type ClientSession,
  type Collection,
  type MongoClient,
  MongoError,
  MongoErrorLabel,
  MongoServerError,
  ObjectId,
  WriteConcern,
} from "mongodb";
import { type Deadline, noDeadline } from "../../lib/deadline.ts";
import { errorMessage } from "../../lib/errors.ts";
import {
  type AppendRequest,
  type AppendResult,
  AppendTooLargeError,
  StoreOutcomeUnknownError,
  StoreUnavailableError,
  type StreamVersion,
} from "../event-store.ts";
import {
  assignPositions,
  conflict,
  eventsDoc,
  listStarting,
  MAX_DOCUMENT_BYTES,
  POSITION_ATTEMPTS,
  settle,
  sleep,
} from "./append.ts";
import {
  type Collections,
  DUPLICATE_KEY,
  duplicateIndex,
  type EventsDoc,
  isUnavailable,
  type OutcomesDoc,
} from "./documents.ts";
import { guardedUpsert, outcomeDocs, visible } from "./outcomes.ts";
import { streamVersion } from "./read.ts";
import { insertTombstones } from "./tombstones.ts";

/**
 * Appends that name other streams in `dependsOn`: each is written on its own, in a multi-document
 * transaction (snapshot reads, a majority's journaled commit), never in the shared batch.
 *
 * Reading a dependency's version inside the transaction is not enough: snapshot isolation lets a
 * write to that stream commit between the read and the commit without any conflict (write skew). Two
 * writes of one key do conflict, though, whoever makes them, and the dependency's next append must
 * insert one key we know: `(streamId, version + 1)` of the unique index `stream_event_version`. So
 * the transaction claims that key itself with a guard document, inserted and deleted again at once:
 * mongod does the same on every insert into a unique index (`WiredTigerIndex::_insert` in
 * `wiredtiger_index.cpp` inserts the bare key and removes it, so that it "will continue to conflict
 * with any concurrent transactions"). Then, for the dependency's next append:
 * - committed before the transaction's snapshot: the read shows it, `dependency_conflict`;
 * - committed after the snapshot, before the guard: the guard's insert collides with it (a write
 *   conflict, code 112, labelled `TransientTransactionError`, or a duplicate key, 11000): the
 *   transaction is aborted and, once the stream shows it moved, `dependency_conflict`;
 * - sent while the transaction holds the guard's key: another transaction's write fails with a write
 *   conflict (it is retried on fresh state); a write outside a transaction waits until this one ends,
 *   and lands after it. Either way the dependency was where the check said, at the commit.
 * The guard is deleted in the transaction that inserted it, so no reader ever sees it, and it names no
 * positions, so the `positions` and `last_position` indexes never hold it.
 *
 * Transactions need a replica set (or mongos): a standalone server refuses them, and such an append
 * then fails with `StoreUnavailableError` saying so. It is never written without its check.
 */

/**
 * The claim on a dependency's next version: an entry of `stream_event_version` only (it is of kind
 * `events`), never committed (see above). `guard` marks it for anyone who reads the oplog.
 */
export interface GuardDoc {
  _id: ObjectId;
  kind: "events";
  streamId: string;
  events: { version: number }[];
  guard: true;
}

export const guardDoc = ({ streamId, version }: StreamVersion): GuardDoc => ({
  _id: new ObjectId(),
  kind: "events",
  streamId,
  events: [{ version: version + 1 }],
  guard: true,
});

/** A transaction that lost a race and found nothing moved is run again, at most so often. */
const TRANSACTION_ATTEMPTS = 5;
/** The pause before running it again: up to this long times the attempt, at random, so racers part. */
const RETRY_PAUSE_MS = 20;
/** A commit whose outcome the driver could not tell is read back this often (outcomes alone: no positions to tombstone). */
const READ_BACKS = 5;

export interface DependentOptions {
  /** No attempt starts past it, and a commit whose outcome is unsure is settled within it. */
  readonly deadline?: Deadline;
  /**
   * Asked just before the commit is sent: false if the caller was already answered "not written",
   * and then the transaction is aborted instead.
   */
  readonly claim?: () => boolean;
  /** How long the commit waits for a majority's journal (`wtimeoutMS`). */
  readonly writeTimeoutMs?: number;
}

/** What one run of the transaction came to. */
type Attempt =
  | { readonly kind: "committed" }
  /** Refused by a read inside it, and aborted: nothing written. */
  | { readonly kind: "refused"; readonly result: AppendResult }
  /** A unique index refused one of its writes (code 11000): aborted. */
  | { readonly kind: "duplicate"; readonly index: string | undefined; readonly guard: boolean }
  /** Aborted by a conflict, or by a failure a new run may not meet (`TransientTransactionError`). */
  | { readonly kind: "transient"; readonly error: unknown }
  /** The commit was sent and the driver could not tell whether it took. */
  | { readonly kind: "unsure"; readonly error: unknown }
  /** Aborted for another reason: not written. */
  | { readonly kind: "failed"; readonly error: StoreUnavailableError };

/** The server's own error: the error itself, or the one the driver replaced with its own (below). */
const serverError = (error: unknown): MongoServerError | undefined => {
  if (!(error instanceof MongoServerError)) return undefined;
  if (error.code !== undefined) return error;
  const original: unknown = (error.errorResponse as { originalError?: unknown }).originalError;
  return original instanceof MongoServerError ? original : error;
};

/**
 * A server that cannot run a transaction: a standalone mongod answers code 20, IllegalOperation
 * ("Transaction numbers are only allowed on a replica set member or mongos"). The driver answers it
 * as it comes to a read; to a write it throws its own `MongoServerError` ("This MongoDB deployment
 * does not support retryable writes…", `MMAPv1_RETRY_WRITES_ERROR_CODE` in
 * `operations/execute_operation.ts`) without a code, the server's error in `originalError`.
 */
const ILLEGAL_OPERATION = 20;

const noTransactions = (error: MongoServerError): StoreUnavailableError =>
  new StoreUnavailableError(
    "an append that depends on other streams is written in a multi-document transaction, which MongoDB " +
      "runs only on a replica set (or through mongos); this server refused one, so nothing was written. " +
      "Run MongoDB as a replica set (a single-node one will do). " +
      `The server said (code ${ILLEGAL_OPERATION}, IllegalOperation): ${error.message}`,
    { cause: error },
  );

/**
 * Labels the driver reads (`MongoErrorLabel` in `error.ts`): the server labels a write conflict in a
 * transaction (code 112, WriteConflict), a lock it could not take in time and a transaction it no
 * longer has `TransientTransactionError`; the driver adds it to a network error inside a transaction
 * (`Server.decorateCommandError` in `sdam/server.ts`). A commit it could not tell the outcome of it
 * labels `UnknownTransactionCommitResult` (`ClientSession.commitTransaction` in `sessions.ts`).
 */
const WRITE_CONFLICT = 112;
const isTransient = (error: unknown): boolean =>
  error instanceof MongoError &&
  (error.hasErrorLabel(MongoErrorLabel.TransientTransactionError) || error.code === WRITE_CONFLICT);

/** The documents one append writes: its events' commit, or its outcomes alone. */
interface Docs {
  readonly events: EventsDoc | undefined;
  readonly outcomes: readonly OutcomesDoc[];
}

/**
 * Writes one append with `dependsOn` (events, or outcomes alone), checked as described above. Answers
 * as `append` does: a result, or `AppendTooLargeError`, `StoreUnavailableError` (not written) or
 * `StoreOutcomeUnknownError` (it may be). Positions that no event took are tombstoned at once.
 */
export const appendDependent = async (
  client: MongoClient,
  collections: Collections,
  request: AppendRequest,
  { deadline = noDeadline, claim = () => true, writeTimeoutMs = 5_000 }: DependentOptions = {},
): Promise<AppendResult> => {
  const dependsOn = request.dependsOn ?? [];
  if (dependsOn.length === 0) throw new Error("appendDependent: the append names no other stream");
  const time = new Date();
  const withEvents = request.events.length > 0;
  if (withEvents) {
    const bytes = BSON.calculateObjectSize(eventsDoc(request, 0, time));
    if (bytes > MAX_DOCUMENT_BYTES) {
      throw new AppendTooLargeError(
        `the append is ${bytes} bytes, more than the ${MAX_DOCUMENT_BYTES} of a MongoDB document`,
      );
    }
  }
  const { commits } = collections;
  const guards: Collection<GuardDoc> = client.db(commits.dbName).collection(commits.collectionName);

  /** Positions no event will take: tombstoned now, while there is time (else a reader does, later). */
  const release = async (docs: Docs) => {
    if (docs.events && deadline.left() > 0) {
      const { position, lastPosition } = docs.events;
      await insertTombstones(collections, position, lastPosition).catch(() => false);
    }
  };
  const notWritten = async (docs: Docs, error: unknown): Promise<never> => {
    await release(docs);
    throw error instanceof StoreUnavailableError
      ? error
      : new StoreUnavailableError(`the event store cannot write: ${errorMessage(error)}`, { cause: error });
  };
  const none: Docs = { events: undefined, outcomes: [] };
  /** The documents to write; the events' positions come from the counter, outside the transaction. */
  const documents = async (): Promise<Docs> => {
    if (!withEvents) return { events: undefined, outcomes: outcomeDocs(request, time) };
    try {
      const position = await assignPositions(collections, request.events.length);
      return { events: eventsDoc(request, position, time), outcomes: [] };
    } catch (error) {
      return notWritten(none, error);
    }
  };

  try {
    if (withEvents) await listStarting(collections, [request]);
  } catch (error) {
    return notWritten(none, error);
  }
  let docs = await documents();
  const session = client.startSession({ causalConsistency: false });
  try {
    for (let races = 0, positionAttempts = 1; ; ) {
      if (deadline.left() <= 0) {
        return await notWritten(
          docs,
          new StoreUnavailableError("the deadline passed; the append was not written"),
        );
      }
      const run = await once(session, guards, collections, request, docs, claim, writeTimeoutMs);
      if (run.kind === "committed") {
        await finished(collections, request);
        const version = docs.events?.lastVersion ?? request.expectedVersion;
        return { ok: true, version, time: time.toISOString() };
      }
      if (run.kind === "refused") {
        await release(docs);
        return run.result;
      }
      if (run.kind === "failed") return await notWritten(docs, run.error);
      if (run.kind === "unsure") return await settled(collections, request, docs, run.error, deadline);
      if (run.kind === "duplicate" && !run.guard) {
        await release(docs);
        if (run.index === "positions" && positionAttempts < POSITION_ATTEMPTS) {
          // A reader tombstoned them while the transaction ran: new ones, and again.
          positionAttempts++;
          docs = await documents();
          continue;
        }
        const answer = await conflict(collections, request, run.index);
        if ("failed" in answer) throw answer.failed;
        if (!answer.ok && answer.reason === "idempotency_conflict" && !withEvents) {
          await visible(collections, answer.key);
        }
        return answer;
      }

      // Aborted in a race, or its guard found the dependency's next version taken: where is each
      // stream now? A majority read, outside the transaction; the first that moved is the answer.
      const lost = run.kind === "transient" ? run.error : new Error("a dependency's next version is taken");
      let moved: AppendResult | undefined;
      try {
        moved = await whereNow(collections, request);
      } catch (readError) {
        return await notWritten(
          docs,
          new StoreUnavailableError(
            `the append's transaction was aborted (${errorMessage(lost)}) and reading the streams it ` +
              `names failed: ${errorMessage(readError)}; not written`,
            { cause: readError },
          ),
        );
      }
      if (moved) {
        await release(docs);
        return moved;
      }
      races++;
      const pause = Math.random() * RETRY_PAUSE_MS * races;
      if (races < TRANSACTION_ATTEMPTS && deadline.left() > pause) {
        // Nothing shows a move yet: the winner is not on a majority, or the abort was no race at all.
        await sleep(pause);
        continue;
      }
      if (isUnavailable(lost)) return await notWritten(docs, lost);
      // Lost every race, though no stream shows a move yet: the engine decides again on what it reads
      // then (and bounds how often), as after any dependency conflict.
      await release(docs);
      const [first] = dependsOn as [StreamVersion];
      const actualVersion = await streamVersion(collections, first.streamId).catch(() => first.version);
      return { ok: false, reason: "dependency_conflict", streamId: first.streamId, actualVersion };
    }
  } finally {
    // Ends on the server too a transaction whose abort could not be sent.
    await session.endSession().catch(() => {});
  }
};

/** The append's own stream, then each dependency, as a majority sees them: the first that is elsewhere. */
const whereNow = async (
  collections: Collections,
  request: AppendRequest,
): Promise<AppendResult | undefined> => {
  const own = await streamVersion(collections, request.streamId);
  if (own !== request.expectedVersion) return { ok: false, reason: "version_conflict", actualVersion: own };
  for (const { streamId, version } of request.dependsOn ?? []) {
    const actualVersion = await streamVersion(collections, streamId);
    if (actualVersion !== version)
      return { ok: false, reason: "dependency_conflict", streamId, actualVersion };
  }
  return undefined;
};

/** Aborts the transaction if it is still open (the server may have aborted it already: then a no-op). */
const abort = async (session: ClientSession): Promise<void> => {
  // `abortTransaction` swallows the server's errors, not all of the driver's own.
  if (session.inTransaction()) await session.abortTransaction().catch(() => {});
};

type Stage = "check" | "guard" | "write" | "commit";

/**
 * One run of the transaction: the append's own stream and each dependency read at its snapshot, a
 * guard on each dependency's next version, the append's documents, the commit. One operation after
 * another: the driver does not run a transaction's operations in parallel.
 */
const once = async (
  session: ClientSession,
  guards: Collection<GuardDoc>,
  collections: Collections,
  request: AppendRequest,
  docs: Docs,
  claim: () => boolean,
  writeTimeoutMs: number,
): Promise<Attempt> => {
  const { commits } = collections;
  const refused = async (result: AppendResult): Promise<Attempt> => {
    await abort(session);
    return { kind: "refused", result };
  };
  let stage: Stage = "check";
  try {
    session.startTransaction({
      readConcern: { level: "snapshot" },
      writeConcern: new WriteConcern("majority", writeTimeoutMs, true),
    });
    const own = await streamVersion(collections, request.streamId, session);
    if (own !== request.expectedVersion)
      return refused({ ok: false, reason: "version_conflict", actualVersion: own });
    for (const { streamId, version } of request.dependsOn ?? []) {
      const actualVersion = await streamVersion(collections, streamId, session);
      if (actualVersion !== version)
        return refused({ ok: false, reason: "dependency_conflict", streamId, actualVersion });
    }
    stage = "guard";
    for (const dependency of request.dependsOn ?? []) {
      const guard = guardDoc(dependency);
      await guards.insertOne(guard, { session });
      const { deletedCount } = await guards.deleteOne({ _id: guard._id }, { session });
      // Committed, it would hold the dependency's next version for good.
      if (deletedCount !== 1) throw new Error(`the guard on ${dependency.streamId} was not deleted`);
    }
    stage = "write";
    if (docs.events) await commits.insertOne(docs.events, { session });
    for (const outcome of docs.outcomes) {
      const { filter, update, upsert, hint } = guardedUpsert(request, outcome);
      const { upsertedCount } = await commits.updateOne(filter, update, { upsert, hint, session });
      // It matched a commit past the version the outcome was decided on.
      if (upsertedCount !== 1) {
        return refused({ ok: false, reason: "version_conflict", actualVersion: request.expectedVersion + 1 });
      }
    }
    if (!claim()) {
      await abort(session);
      return { kind: "failed", error: new StoreUnavailableError("the append was abandoned; not written") };
    }
    stage = "commit";
    await session.commitTransaction();
    return { kind: "committed" };
  } catch (error) {
    if (stage !== "commit") await abort(session);
    return classify(error, stage);
  }
};

/** What an error of one run means. Until the commit is sent, nothing of the transaction is written. */
const classify = (error: unknown, stage: Stage): Attempt => {
  const server = serverError(error);
  if (server?.code === ILLEGAL_OPERATION) return { kind: "failed", error: noTransactions(server) };
  if (stage === "commit") {
    // A commit labelled transient was aborted (NoSuchTransaction after a failover, say): not written.
    // Any other may have come after the commit took: `UnknownTransactionCommitResult`, and also a
    // write concern the server cannot satisfy, which the driver leaves unlabelled (`sessions.ts`,
    // NON_DETERMINISTIC_WRITE_CONCERN_ERRORS) though the commit may stand on the primary.
    return error instanceof MongoError && error.hasErrorLabel(MongoErrorLabel.TransientTransactionError)
      ? { kind: "transient", error }
      : { kind: "unsure", error };
  }
  if (isTransient(error)) return { kind: "transient", error };
  // A write error in a transaction: the server aborts the transaction and answers it in `writeErrors`,
  // which `insertOne`, `updateOne` and `deleteOne` throw as a `MongoServerError` (its code, its errmsg).
  if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) {
    return { kind: "duplicate", index: duplicateIndex(error.errmsg), guard: stage === "guard" };
  }
  return {
    kind: "failed",
    error: new StoreUnavailableError(`the append's transaction failed; not written: ${errorMessage(error)}`, {
      cause: error,
    }),
  };
};

/** A written append that ends a stream that had started: no longer one a restart resumes. */
const finished = async (collections: Collections, request: AppendRequest): Promise<void> => {
  if (request.final && request.expectedVersion > 0 && request.events.length > 0) {
    await collections.nonFinal.deleteMany({ _id: { $in: [request.streamId] } }).catch(() => {});
  }
};

/**
 * A commit whose outcome the driver could not tell, settled as the batch settles an insert (`settle`):
 * read back by `_id` with a majority read; not there, its positions are tombstoned so that it can
 * never land late (the tombstone collides with a commit that took, and waits for one still under
 * way). Outcomes alone take no positions: read back, and if they never show, unsure.
 */
const settled = async (
  collections: Collections,
  request: AppendRequest,
  docs: Docs,
  error: unknown,
  deadline: Deadline,
): Promise<AppendResult> => {
  const cause = errorMessage(error);
  const { events } = docs;
  if (events) {
    const verdict = (await settle(collections, [events], deadline)).get(events);
    if (verdict === "written")
      return { ok: true, version: events.lastVersion, time: events.time.toISOString() };
    if (verdict === "absent")
      throw new StoreUnavailableError(`the append was not written: ${cause}`, { cause: error });
    throw new StoreOutcomeUnknownError(`the append may or may not be written: ${cause}`, { cause: error });
  }
  // Written in one transaction: one of them shows all of them.
  const [first] = docs.outcomes;
  for (let read = 1; first && read <= READ_BACKS; read++) {
    const found = await collections.commits
      .findOne({ _id: first._id }, { projection: { _id: 1 } })
      .catch(() => null);
    if (found) return { ok: true, version: request.expectedVersion, time: first.time.toISOString() };
    const pause = 100 * read;
    if (deadline.left() <= pause) break;
    await sleep(pause);
  }
  throw new StoreOutcomeUnknownError(`the append's outcomes may or may not be kept: ${cause}`, {
    cause: error,
  });
};
