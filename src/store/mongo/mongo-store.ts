import { MongoClient } from "mongodb";
import { Batcher, type BatcherOptions } from "../../lib/batcher.ts";
import type { EventEnvelope } from "../envelope.ts";
import {
  type AppendRequest,
  type AppendResult,
  type ReadStreamOptions,
  StoreOverloadedError,
  type StreamInfo,
} from "../event-store.ts";
import type { StoredOutcome } from "../outcome-store.ts";
import type { Snapshot } from "../snapshot-store.ts";
import type { Store } from "../store.ts";
import { type Written, writeBatch } from "./append.ts";
import { type Collections, collections, ensureIndexes } from "./documents.ts";
import * as outcomes from "./outcomes.ts";
import * as read from "./read.ts";
import * as relay from "./relay.ts";
import * as snapshots from "./snapshots.ts";

export interface MongoStoreOptions extends Partial<Omit<BatcherOptions, "weigh">> {
  readonly url: string;
  /** Database name; defaults to the one in the URL, else `eventfold`. */
  readonly database?: string;
  /** How long `readAll` waits for a hole in the positions to fill before passing it (default 5 s). */
  readonly holeGraceMs?: number;
}

/** The production store: every port over one MongoDB database, a module per operation beside it. */
export class MongoStore implements Store {
  readonly name = "mongodb";
  private readonly committer: Batcher<AppendRequest, Written>;
  private readonly holeGraceMs: number;

  private constructor(
    private readonly client: MongoClient,
    private readonly collections: Collections,
    options: MongoStoreOptions,
  ) {
    this.holeGraceMs = options.holeGraceMs ?? 5_000;
    this.committer = new Batcher((batch) => writeBatch(this.collections, batch), {
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
    const store = new MongoStore(client, collections(db), options);
    await ensureIndexes(store.collections);
    return store;
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
    const written = await this.committer.submit(request);
    if ("failed" in written) throw written.failed;
    return written;
  }

  readStream(streamId: string, options?: ReadStreamOptions): Promise<EventEnvelope[]> {
    return read.readStream(this.collections, streamId, options);
  }
  streamInfo(streamId: string): Promise<StreamInfo | undefined> {
    return read.streamInfo(this.collections, streamId);
  }
  readAll(after: number, limit: number): Promise<EventEnvelope[]> {
    return read.readAll(this.collections, after, limit, this.holeGraceMs);
  }
  headPosition(): Promise<number> {
    return read.headPosition(this.collections);
  }
  nonFinalStreams(aggregateType: string): AsyncIterable<string> {
    return read.nonFinalStreams(this.collections, aggregateType);
  }
  loadSnapshot(streamId: string): Promise<Snapshot | undefined> {
    return snapshots.loadSnapshot(this.collections, streamId);
  }
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return snapshots.saveSnapshot(this.collections, snapshot);
  }
  findOutcome(key: string): Promise<StoredOutcome | undefined> {
    return outcomes.findOutcome(this.collections, key);
  }
  saveOutcomes(given: readonly StoredOutcome[]): Promise<(StoredOutcome | undefined)[]> {
    return outcomes.saveOutcomes(this.collections, given);
  }
  loadCheckpoint(name: string): Promise<string | undefined> {
    return relay.loadCheckpoint(this.collections, name);
  }
  saveCheckpoint(name: string, value: string): Promise<void> {
    return relay.saveCheckpoint(this.collections, name, value);
  }
  tryLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return relay.tryLease(this.collections, name, owner, ttlMs);
  }
  releaseLease(name: string, owner: string): Promise<void> {
    return relay.releaseLease(this.collections, name, owner);
  }

  async ping(): Promise<void> {
    await this.client.db().command({ ping: 1 });
  }

  async close(): Promise<void> {
    await this.committer.drain();
    await this.client.close();
  }
}
