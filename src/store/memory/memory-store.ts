import type { Coord, Hash } from "../../ledger/merkle.ts";
import { Batcher, type BatcherOptions } from "../../lib/batcher.ts";
import type { EventEnvelope } from "../envelope.ts";
import {
  type AppendRequest,
  type AppendResult,
  type ReadStreamOptions,
  StoreOverloadedError,
  type StreamInfo,
} from "../event-store.ts";
import type { LedgerKey, LedgerLeaf, SignedHead, TreeExtent } from "../ledger-store.ts";
import type { StoredOutcome } from "../outcome-store.ts";
import { FencedError } from "../relay-store.ts";
import type { Snapshot } from "../snapshot-store.ts";
import type { Store } from "../store.ts";
import { MemoryLedger } from "./memory-ledger.ts";

/** What a memory store holds; several clients may share one, as processes share a file or a server. */
export class MemoryStoreData {
  readonly events: EventEnvelope[] = [];
  readonly streams = new Map<string, { aggregateType: string; events: EventEnvelope[]; final: boolean }>();
  readonly outcomes = new Map<string, StoredOutcome>();
  readonly snapshots = new Map<string, Snapshot>();
  readonly checkpoints = new Map<string, { value: string; fence: number }>();
  readonly leases = new Map<string, { owner: string; expiresAt: number; token: number }>();
  readonly ledger = new MemoryLedger();
}

export interface MemoryStoreOptions
  extends Partial<Pick<BatcherOptions, "maxBatch" | "maxPending" | "onBatch" | "scheduler">> {
  /** The data to serve (default: new, empty data of its own). */
  readonly data?: MemoryStoreData;
}

/**
 * Every port in memory, with the guarantees of the durable adapters but for durability itself: the
 * same conformance suites pass against it. For fast tests, and for trying an aggregate out; it keeps
 * nothing across a restart. Appends are batched as the durable stores batch theirs, so a test sees
 * the same interleavings.
 */
export class MemoryStore implements Store {
  readonly name = "memory";
  readonly data: MemoryStoreData;
  private readonly batcher: Batcher<AppendRequest, AppendResult>;

  constructor(options: MemoryStoreOptions = {}) {
    this.data = options.data ?? new MemoryStoreData();
    this.batcher = new Batcher((batch) => batch.map((request) => this.write(request)), {
      maxBatch: options.maxBatch ?? 512,
      maxPending: options.maxPending ?? 20_000,
      full: () => new StoreOverloadedError("the write pipeline is full"),
      onBatch: options.onBatch,
      scheduler: options.scheduler,
    });
  }

  append(request: AppendRequest): Promise<AppendResult> {
    return this.batcher.submit(request);
  }

  private write(request: AppendRequest): AppendResult {
    const { data } = this;
    const stream = data.streams.get(request.streamId);
    const actualVersion = stream?.events.length ?? 0;
    if (actualVersion !== request.expectedVersion)
      return { ok: false, reason: "version_conflict", actualVersion };
    for (const { streamId, version } of request.dependsOn ?? []) {
      const at = data.streams.get(streamId)?.events.length ?? 0;
      if (at !== version) return { ok: false, reason: "dependency_conflict", streamId, actualVersion: at };
    }
    for (const { key } of request.outcomes ?? []) {
      if (data.outcomes.has(key)) return { ok: false, reason: "idempotency_conflict", key };
    }
    const time = new Date().toISOString();
    if (request.events.length === 0) {
      for (const outcome of request.outcomes ?? []) data.outcomes.set(outcome.key, outcome);
      return { ok: true, version: actualVersion, time };
    }
    const entry = stream ?? { aggregateType: request.aggregateType, events: [], final: false };
    data.streams.set(request.streamId, entry);
    for (const event of request.events) {
      const envelope: EventEnvelope = {
        ...structuredClone(event),
        streamId: request.streamId,
        aggregateType: request.aggregateType,
        version: entry.events.length + 1,
        time,
        position: data.events.length + 1,
      };
      entry.events.push(envelope);
      data.events.push(envelope);
      data.ledger.add(envelope);
    }
    entry.final = request.final ?? false;
    for (const outcome of request.outcomes ?? []) data.outcomes.set(outcome.key, structuredClone(outcome));
    return { ok: true, version: entry.events.length, time };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<EventEnvelope[]> {
    const events = this.data.streams.get(streamId)?.events ?? [];
    const { after = 0, upTo = Number.MAX_SAFE_INTEGER, limit = Number.POSITIVE_INFINITY } = options;
    return events
      .filter((e) => e.version > after && e.version <= upTo)
      .slice(0, limit)
      .map(copy);
  }

  async streamInfo(streamId: string): Promise<StreamInfo | undefined> {
    const stream = this.data.streams.get(streamId);
    const last = stream?.events.at(-1);
    if (!stream || !last) return undefined;
    const { aggregateType, final } = stream;
    return { streamId, aggregateType, version: last.version, updatedAt: last.time, final };
  }

  async readAll(after: number, limit: number): Promise<EventEnvelope[]> {
    return this.data.events.slice(after, after + limit).map(copy);
  }

  async headPosition(): Promise<number> {
    return this.data.events.length;
  }

  async *nonFinalStreams(aggregateType: string): AsyncIterable<string> {
    for (const [streamId, stream] of this.data.streams) {
      if (stream.aggregateType === aggregateType && !stream.final) yield streamId;
    }
  }

  async findOutcome(key: string): Promise<StoredOutcome | undefined> {
    const outcome = this.data.outcomes.get(key);
    return outcome && structuredClone(outcome);
  }

  async loadSnapshot(streamId: string): Promise<Snapshot | undefined> {
    const snapshot = this.data.snapshots.get(streamId);
    return snapshot && structuredClone(snapshot);
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    const held = this.data.snapshots.get(snapshot.streamId);
    if (!held || held.version < snapshot.version)
      this.data.snapshots.set(snapshot.streamId, structuredClone(snapshot));
  }

  async loadCheckpoint(name: string): Promise<string | undefined> {
    return this.data.checkpoints.get(name)?.value;
  }

  async saveCheckpoint(name: string, value: string, fence = 0): Promise<void> {
    const saved = this.data.checkpoints.get(name);
    if (saved && saved.fence > fence) throw new FencedError(`${name}: saved under a newer lease`);
    this.data.checkpoints.set(name, { value, fence });
  }

  async tryLease(name: string, owner: string, ttlMs: number): Promise<number | undefined> {
    const now = Date.now();
    const held = this.data.leases.get(name);
    if (held && held.owner !== owner && held.expiresAt >= now) return undefined;
    const token = held?.owner === owner ? held.token : (held?.token ?? 0) + 1;
    this.data.leases.set(name, { owner, expiresAt: now + ttlMs, token });
    return token;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    // Expired at once, not forgotten: the next holder's token must still be newer.
    const held = this.data.leases.get(name);
    if (held?.owner === owner) this.data.leases.set(name, { ...held, expiresAt: 0 });
  }

  async treeExtent(): Promise<TreeExtent> {
    return this.data.ledger.extent();
  }

  async seal(): Promise<TreeExtent> {
    return this.data.ledger.extent();
  }

  async ledgerNodes(coords: readonly Coord[]): Promise<readonly Hash[]> {
    return coords.map((coord) => this.data.ledger.node(coord));
  }

  async ledgerLeaves(fromIndex: number, limit: number): Promise<LedgerLeaf[]> {
    return this.data.ledger.leaves.slice(fromIndex, fromIndex + limit);
  }

  async ledgerLeafAt(position: number): Promise<LedgerLeaf | undefined> {
    // Positions have no gaps here: the event at position p is leaf p - 1.
    const leaf = this.data.ledger.leaves[position - 1];
    return leaf?.position === position ? leaf : undefined;
  }

  async saveHead(head: SignedHead): Promise<void> {
    if (!this.data.ledger.heads.has(head.treeSize)) this.data.ledger.heads.set(head.treeSize, { ...head });
  }

  async latestHead(): Promise<SignedHead | undefined> {
    return this.data.ledger.latestHead();
  }

  async saveLedgerKey(key: LedgerKey): Promise<void> {
    if (!this.data.ledger.keys.has(key.keyId)) this.data.ledger.keys.set(key.keyId, { ...key });
  }

  async ledgerKeys(): Promise<LedgerKey[]> {
    return [...this.data.ledger.keys.values()];
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    await this.batcher.drain();
  }
}

/** Callers get copies: what they do to an envelope never reaches the store. */
const copy = (envelope: EventEnvelope): EventEnvelope => structuredClone(envelope);
