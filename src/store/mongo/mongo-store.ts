import { MongoClient } from "mongodb";
import { Batcher, type BatcherOptions } from "../../lib/batcher.ts";
import { errorMessage } from "../../lib/errors.ts";
import type { EventEnvelope } from "../envelope.ts";
import {
  type AppendRequest,
  type AppendResult,
  type ReadStreamOptions,
  StoreOverloadedError,
  StoreUnavailableError,
  type StreamInfo,
} from "../event-store.ts";
import type { StoredOutcome } from "../outcome-store.ts";
import type { Snapshot } from "../snapshot-store.ts";
import type { Store } from "../store.ts";
import { WriteHealth } from "../write-health.ts";
import { type Written, writeBatch } from "./append.ts";
import { type Collections, collections, ensureIndexes, isUnavailable } from "./documents.ts";
import { HoleReader } from "./holes.ts";
import * as outcomes from "./outcomes.ts";
import * as read from "./read.ts";
import * as relay from "./relay.ts";
import * as snapshots from "./snapshots.ts";

export interface MongoStoreOptions
  extends Partial<Pick<BatcherOptions, "maxBatch" | "maxPending" | "onBatch">> {
  readonly url: string;
  /** Database name; default: the one in the URL's path, else `eventfold` (never the driver's `test`). */
  readonly database?: string;
  /** How long the relay's reader waits for a hole in the positions before it tombstones it (default 5 s). */
  readonly holeGraceMs?: number;
  /** How long a write waits for a majority to acknowledge it before it counts as unsure (default 5 s). */
  readonly writeTimeoutMs?: number;
  /** How long an operation waits for a server to send it to (default 10 s). */
  readonly serverSelectionTimeoutMs?: number;
  /** Told when writes start failing for a reason that outlasts a retry, and when they work again. */
  readonly onWritable?: (cause: string | undefined) => void;
}

/**
 * The database a URL names in its path, or `eventfold`: the driver's own default is `test`. The path
 * follows the host list, which holds no `/` (a `/` in the credentials must be percent-encoded).
 */
export const databaseOf = (url: string): string => {
  const path = /^mongodb(?:\+srv)?:\/\/[^/?#]*\/([^?#]*)/.exec(url)?.[1] ?? "";
  return decodeURIComponent(path) || "eventfold";
};

/**
 * The production store: every port over one MongoDB database, a module per operation beside it.
 * Every read is a majority read and every write waits for a majority's journal, so nothing is read
 * that a failover could take back; a write waits at most `writeTimeoutMs` for it, and is then settled
 * (see `append.ts`) before its caller is answered.
 */
export class MongoStore implements Store {
  readonly name = "mongodb";
  private readonly committer: Batcher<AppendRequest, Written>;
  private readonly holes: HoleReader;
  private readonly health: WriteHealth;

  private constructor(
    private readonly client: MongoClient,
    private readonly collections: Collections,
    options: MongoStoreOptions,
  ) {
    this.holes = new HoleReader(collections, options.holeGraceMs ?? 5_000);
    this.health = new WriteHealth(options.onWritable);
    this.committer = new Batcher(
      (batch) =>
        writeBatch(this.collections, batch).catch((error) => {
          // The batch failed before any append of it was written (the counter, the stream list).
          throw new StoreUnavailableError(`the event store cannot write: ${errorMessage(error)}`, {
            cause: error,
          });
        }),
      {
        maxBatch: options.maxBatch ?? 512,
        maxPending: options.maxPending ?? 20_000,
        full: () => new StoreOverloadedError("the write pipeline is full"),
        onBatch: options.onBatch,
      },
    );
  }

  static async connect(options: MongoStoreOptions): Promise<MongoStore> {
    const client = new MongoClient(options.url, {
      retryWrites: true,
      readConcern: { level: "majority" },
      writeConcern: { w: "majority", journal: true, wtimeoutMS: options.writeTimeoutMs ?? 5_000 },
      serverSelectionTimeoutMS: options.serverSelectionTimeoutMs ?? 10_000,
    });
    await client.connect();
    const db = client.db(options.database ?? databaseOf(options.url));
    const store = new MongoStore(client, collections(db), options);
    await ensureIndexes(store.collections);
    await store.seedCounter();
    return store;
  }

  /** The position counter starts past every stored position, whatever happened to the counter. */
  private async seedCounter(): Promise<void> {
    const last = await this.collections.commits
      .find<{ lastPosition: number }>(
        { lastPosition: { $exists: true } },
        { projection: { lastPosition: 1 } },
      )
      .sort({ lastPosition: -1 })
      .limit(1)
      .next();
    const highest = last?.lastPosition ?? 0;
    await this.collections.counters.updateOne(
      { _id: "position" },
      { $max: { value: highest } },
      { upsert: true },
    );
  }

  async append(request: AppendRequest): Promise<AppendResult> {
    if (request.events.length === 0) {
      // A commit document takes positions and versions; an append without events only stores outcomes.
      const info = await this.streamInfo(request.streamId);
      if ((info?.version ?? 0) !== request.expectedVersion) {
        return { ok: false, reason: "version_conflict", actualVersion: info?.version ?? 0 };
      }
      const earlier = await this.guard(
        () => outcomes.saveOutcomes(this.collections, request.outcomes ?? []),
        true,
      );
      const taken = earlier.findIndex((e) => e !== undefined);
      if (taken >= 0)
        return { ok: false, reason: "idempotency_conflict", key: request.outcomes?.[taken]?.key ?? "" };
      return { ok: true, version: request.expectedVersion, time: new Date().toISOString() };
    }
    const written = await this.committer.submit(request);
    if (!("failed" in written)) {
      this.health.succeeded();
      return written;
    }
    if (written.failed instanceof StoreUnavailableError)
      throw this.health.failed(written.failed.message, written.failed);
    throw written.failed;
  }

  /** A read, or a write other than an append: a server that cannot be reached is `StoreUnavailableError`. */
  private async guard<T>(work: () => Promise<T>, write = false): Promise<T> {
    try {
      const result = await work();
      if (write) this.health.succeeded();
      return result;
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      if (write) throw this.health.failed(errorMessage(error), error);
      throw new StoreUnavailableError(`the event store cannot be read: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  readStream(streamId: string, options?: ReadStreamOptions): Promise<EventEnvelope[]> {
    return this.guard(() => read.readStream(this.collections, streamId, options));
  }
  streamInfo(streamId: string): Promise<StreamInfo | undefined> {
    return this.guard(() => read.streamInfo(this.collections, streamId));
  }
  readAll(after: number, limit: number): Promise<EventEnvelope[]> {
    return this.guard(() => this.holes.readAll(after, limit));
  }
  headPosition(): Promise<number> {
    return this.guard(() => read.headPosition(this.collections));
  }
  async *nonFinalStreams(aggregateType: string): AsyncIterable<string> {
    const ids = await this.guard(() =>
      Array.fromAsync(read.nonFinalStreams(this.collections, aggregateType)),
    );
    yield* ids;
  }
  loadSnapshot(streamId: string): Promise<Snapshot | undefined> {
    return this.guard(() => snapshots.loadSnapshot(this.collections, streamId));
  }
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.guard(() => snapshots.saveSnapshot(this.collections, snapshot), true);
  }
  findOutcome(key: string): Promise<StoredOutcome | undefined> {
    return this.guard(() => outcomes.findOutcome(this.collections, key));
  }
  loadCheckpoint(name: string): Promise<string | undefined> {
    return this.guard(() => relay.loadCheckpoint(this.collections, name));
  }
  saveCheckpoint(name: string, value: string, fence?: number): Promise<void> {
    return this.guard(() => relay.saveCheckpoint(this.collections, name, value, fence), true);
  }
  tryLease(name: string, owner: string, ttlMs: number): Promise<number | undefined> {
    return this.guard(() => relay.tryLease(this.collections, name, owner, ttlMs), true);
  }
  releaseLease(name: string, owner: string): Promise<void> {
    return this.guard(() => relay.releaseLease(this.collections, name, owner), true);
  }

  /** A ping; and while writes have been failing, says so until they have worked for a while. */
  async ping(): Promise<void> {
    await this.guard(() => this.client.db().command({ ping: 1 }));
    const problem = this.health.problem;
    if (problem) {
      // The relay's checkpoint is written every round trip; a write here tells whether writes work now.
      await this.guard(
        () =>
          this.collections.counters.updateOne(
            { _id: "probe" },
            { $currentDate: { at: true } },
            { upsert: true },
          ),
        true,
      );
      const still = this.health.problem;
      if (still) throw still;
    }
  }

  async close(): Promise<void> {
    await this.committer.drain();
    await this.client.close();
  }
}
