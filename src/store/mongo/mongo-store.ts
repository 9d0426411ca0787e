import {
  type Collection,
  type Db,
  MongoBulkWriteError,
  MongoClient,
  MongoServerError,
  type WriteError,
} from "mongodb";
import { Batcher, type BatcherOptions } from "../../lib/batcher.ts";
import type { EventEnvelope, EventMetadata } from "../envelope.ts";
import type { AppendRequest, AppendResult, ReadStreamOptions, StreamInfo } from "../event-store.ts";
import { StoreOverloadedError } from "../event-store.ts";
import type { StoredOutcome } from "../outcome-store.ts";
import type { Snapshot } from "../snapshot-store.ts";
import type { Store } from "../store.ts";

/**
 * One document per append: MongoDB writes a single document atomically, so all events of a command
 * land together or not at all without a multi-document transaction, and a batch of appends from many
 * actors is one unordered `insertMany` (one round trip) in which each append succeeds or fails alone.
 *
 * `{streamId, version}` is unique, where `version` is the commit's first event number. Writers only
 * ever append after a version they read, which is always a commit boundary, so two writers racing from
 * the same version collide on this index and exactly one wins.
 */
interface CommitDoc {
  streamId: string;
  aggregateType: string;
  /** First and last event number in this commit. */
  version: number;
  lastVersion: number;
  /** Global order of the commit's first and last event; see `assignPositions`. */
  position: number;
  lastPosition: number;
  time: Date;
  final: boolean;
  events: {
    eventId: string;
    type: string;
    version: number;
    schemaVersion: number;
    data: unknown;
    metadata: EventMetadata;
  }[];
  /** Outcomes kept under idempotency keys, written with the events; `outcomes.key` is unique across commits. */
  outcomes?: StoredOutcome[];
}

interface OutcomeDoc {
  _id: string;
  fingerprint: string;
  outcome: unknown;
}

interface SnapshotDoc {
  _id: string;
  version: number;
  snapshotVersion: number;
  state: unknown;
}

type Outcome = AppendResult | { readonly failed: Error };

const durable = { writeConcern: { w: "majority" as const, j: true } };
const DUPLICATE_KEY = 11000;

export interface MongoStoreOptions extends Partial<Omit<BatcherOptions, "weigh">> {
  readonly url: string;
  /** Database name; defaults to the one in the URL, else `eventfold`. */
  readonly database?: string;
  /** How long `readAll` waits for a hole in the positions to fill before passing it (default 5 s). */
  readonly holeGraceMs?: number;
}

export class MongoStore implements Store {
  readonly name = "mongodb";
  private readonly commits: Collection<CommitDoc>;
  private readonly outcomes: Collection<OutcomeDoc>;
  private readonly snapshots: Collection<SnapshotDoc>;
  private readonly counters: Collection<{ _id: string; value: number }>;
  private readonly checkpoints: Collection<{ _id: string; value: string }>;
  private readonly leases: Collection<{ _id: string; owner: string; expiresAt: Date }>;
  private readonly committer: Batcher<AppendRequest, Outcome>;

  private readonly holeGraceMs: number;

  private constructor(
    private readonly client: MongoClient,
    private readonly db: Db,
    options: MongoStoreOptions,
  ) {
    this.holeGraceMs = options.holeGraceMs ?? 5_000;
    this.commits = db.collection("commits");
    this.outcomes = db.collection("outcomes");
    this.snapshots = db.collection("snapshots");
    this.counters = db.collection("counters");
    this.checkpoints = db.collection("checkpoints");
    this.leases = db.collection("leases");
    this.committer = new Batcher((batch) => this.writeBatch(batch), {
      maxBatch: options.maxBatch ?? 512,
      maxPending: options.maxPending ?? 20_000,
      full: () => new StoreOverloadedError("the write pipeline is full"),
      onBatch: options.onBatch,
    });
  }

  static async connect(options: MongoStoreOptions): Promise<MongoStore> {
    const client = new MongoClient(options.url, { retryWrites: true });
    await client.connect();
    const db = client.db(options.database ?? (client.options.dbName || "eventfold"));
    const store = new MongoStore(client, db, options);
    await store.ensureIndexes();
    return store;
  }

  /** Idempotent: creating an index that exists with the same spec is a no-op. */
  private async ensureIndexes(): Promise<void> {
    await Promise.all([
      this.commits.createIndex({ streamId: 1, version: 1 }, { unique: true, name: "stream_version" }),
      this.commits.createIndex({ lastPosition: 1 }, { name: "position" }),
      this.commits.createIndex({ aggregateType: 1, streamId: 1 }, { name: "aggregate_type" }),
      this.commits.createIndex(
        { "outcomes.key": 1 },
        {
          unique: true,
          name: "outcome_key",
          partialFilterExpression: { "outcomes.key": { $exists: true } },
        },
      ),
    ]);
  }

  async append(request: AppendRequest): Promise<AppendResult> {
    if (request.events.length === 0) {
      // A commit document would take a version slot; an append without events only stores outcomes.
      const info = await this.streamInfo(request.streamId);
      if ((info?.version ?? 0) !== request.expectedVersion) {
        return { ok: false, reason: "version_conflict", actualVersion: info?.version ?? 0 };
      }
      await this.saveOutcomes(request.outcomes ?? []);
      return { ok: true, version: request.expectedVersion, time: new Date().toISOString() };
    }
    const outcome = await this.committer.submit(request);
    if ("failed" in outcome) throw outcome.failed;
    return outcome;
  }

  /**
   * Positions come from one counter, incremented once per batch. They are unique and increase within a
   * process, but a failed append leaves a hole and two processes may commit out of position order, so
   * the relay follows a change stream on `commits` (the oplog's total order) rather than `position`.
   */
  private async assignPositions(count: number): Promise<number> {
    const counter = await this.counters.findOneAndUpdate(
      { _id: "position" },
      { $inc: { value: count } },
      { upsert: true, returnDocument: "after", ...durable },
    );
    return (counter?.value ?? count) - count + 1;
  }

  private async writeBatch(batch: readonly AppendRequest[]): Promise<Outcome[]> {
    const eventCount = batch.reduce((n, r) => n + r.events.length, 0);
    let position = await this.assignPositions(Math.max(1, eventCount));
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
      await this.commits.insertMany(docs, { ordered: false, ...durable });
    } catch (error) {
      if (!(error instanceof MongoBulkWriteError)) throw error;
      const errors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
      for (const e of errors) failures.set(e.index, e);
      // No per-document error (e.g. the write concern failed): durability is unknown for all of them.
      if (failures.size === 0) throw error;
    }

    return Promise.all(
      batch.map(async (request, i): Promise<Outcome> => {
        const failure = failures.get(i);
        const doc = docs[i];
        if (!doc) return { failed: new Error("batch and documents out of step") };
        if (!failure) return { ok: true, version: doc.lastVersion, time: time.toISOString() };
        if (failure.code !== DUPLICATE_KEY) return { failed: new Error(failure.errmsg ?? "write failed") };
        if (failure.errmsg?.includes("outcome_key")) {
          const keys = (request.outcomes ?? []).map((o) => o.key);
          const taken = await this.commits.findOne(
            { "outcomes.key": { $in: keys } },
            { projection: { outcomes: 1 } },
          );
          const key = taken?.outcomes?.find((o) => keys.includes(o.key))?.key ?? keys[0] ?? "";
          return { ok: false, reason: "idempotency_conflict", key };
        }
        const actual = await this.streamInfo(request.streamId);
        return { ok: false, reason: "version_conflict", actualVersion: actual?.version ?? 0 };
      }),
    );
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<EventEnvelope[]> {
    const after = options.after ?? 0;
    const upTo = options.upTo ?? Number.MAX_SAFE_INTEGER;
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const cursor = this.commits
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
  }

  async streamInfo(streamId: string): Promise<StreamInfo | undefined> {
    const last = await this.commits.find({ streamId }).sort({ version: -1 }).limit(1).next();
    return last
      ? {
          streamId,
          aggregateType: last.aggregateType,
          version: last.lastVersion,
          updatedAt: last.time.toISOString(),
          final: last.final,
        }
      : undefined;
  }

  /**
   * Positions come from a counter before the insert, so a commit can become visible after one with a
   * higher position (another batch still in flight), and an append that lost a clash leaves a hole for
   * good. Reading stops at a hole until it is `holeGraceMs` old: by then the writer either finished or
   * failed, and the relay never skips a commit that was merely slow.
   */
  async readAll(after: number, limit: number): Promise<EventEnvelope[]> {
    const cursor = this.commits.find({ lastPosition: { $gt: after } }).sort({ lastPosition: 1 });
    const out: EventEnvelope[] = [];
    const settledBefore = Date.now() - this.holeGraceMs;
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
  }

  async headPosition(): Promise<number> {
    const last = await this.commits.find().sort({ lastPosition: -1 }).limit(1).next();
    return last?.lastPosition ?? 0;
  }

  async *nonFinalStreams(aggregateType: string): AsyncIterable<string> {
    const cursor = this.commits.aggregate<{ _id: string }>(
      [
        { $match: { aggregateType } },
        { $group: { _id: "$streamId", final: { $max: "$final" } } },
        { $match: { final: false } },
      ],
      { allowDiskUse: true },
    );
    for await (const row of cursor) yield row._id;
  }

  async loadSnapshot(streamId: string): Promise<Snapshot | undefined> {
    const doc = await this.snapshots.findOne({ _id: streamId });
    return doc
      ? { streamId, version: doc.version, snapshotVersion: doc.snapshotVersion, state: doc.state }
      : undefined;
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    try {
      await this.snapshots.updateOne(
        { _id: snapshot.streamId, version: { $lt: snapshot.version } },
        {
          $set: {
            version: snapshot.version,
            snapshotVersion: snapshot.snapshotVersion,
            state: snapshot.state,
          },
        },
        { upsert: true },
      );
    } catch (error) {
      // A newer snapshot is already there: the upsert's insert collided with it, which is fine.
      if (!(error instanceof MongoServerError && error.code === DUPLICATE_KEY)) throw error;
    }
  }

  async findOutcome(key: string): Promise<StoredOutcome | undefined> {
    const [standalone, commit] = await Promise.all([
      this.outcomes.findOne({ _id: key }),
      this.commits.findOne({ "outcomes.key": key }, { projection: { outcomes: 1 } }),
    ]);
    if (standalone) return { key, fingerprint: standalone.fingerprint, outcome: standalone.outcome };
    return commit?.outcomes?.find((o) => o.key === key);
  }

  async saveOutcomes(outcomes: readonly StoredOutcome[]): Promise<(StoredOutcome | undefined)[]> {
    if (outcomes.length === 0) return [];
    const docs = outcomes.map((o) => ({ _id: o.key, fingerprint: o.fingerprint, outcome: o.outcome }));
    const taken = new Set<number>();
    try {
      await this.outcomes.insertMany(docs, { ordered: false, ...durable });
    } catch (error) {
      // First writer wins: a key that is already there keeps its first outcome.
      const errors = error instanceof MongoBulkWriteError ? [error.writeErrors].flat() : [];
      if (errors.length === 0 || errors.some((e) => e.code !== DUPLICATE_KEY)) throw error;
      for (const e of errors) taken.add(e.index);
    }
    return Promise.all(
      outcomes.map((o, i) => (taken.has(i) ? this.findOutcome(o.key) : Promise.resolve(undefined))),
    );
  }

  async loadCheckpoint(name: string): Promise<string | undefined> {
    return (await this.checkpoints.findOne({ _id: name }))?.value;
  }

  async saveCheckpoint(name: string, value: string): Promise<void> {
    await this.checkpoints.updateOne({ _id: name }, { $set: { value } }, { upsert: true, ...durable });
  }

  async tryLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = new Date();
    try {
      // Matches only a lease we hold or one that expired; if another holds it, the upsert collides.
      await this.leases.updateOne(
        { _id: name, $or: [{ owner }, { expiresAt: { $lt: now } }] },
        { $set: { owner, expiresAt: new Date(now.getTime() + ttlMs) } },
        { upsert: true, ...durable },
      );
      return true;
    } catch (error) {
      if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return false;
      throw error;
    }
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.leases.deleteOne({ _id: name, owner });
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }

  async close(): Promise<void> {
    await this.committer.drain();
    await this.client.close();
  }
}

const toEnvelope = (commit: CommitDoc, index: number): EventEnvelope => {
  const event = commit.events[index];
  if (!event) throw new Error(`commit of ${commit.streamId} has no event ${index}`);
  return {
    eventId: event.eventId,
    streamId: commit.streamId,
    aggregateType: commit.aggregateType,
    type: event.type,
    version: event.version,
    schemaVersion: event.schemaVersion,
    time: commit.time.toISOString(),
    data: event.data,
    metadata: event.metadata,
    position: commit.position + index,
  };
};
