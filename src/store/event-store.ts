import type { EventEnvelope, NewEvent } from "./envelope.ts";

/** The outcome of a command sent with an idempotency key; the store keeps `outcome` as opaque JSON. */
export interface StoredOutcome {
  readonly key: string;
  /** A hash of everything that makes two requests "the same". */
  readonly fingerprint: string;
  readonly outcome: unknown;
}

export interface AppendRequest {
  readonly streamId: string;
  readonly aggregateType: string;
  /** The version the writer decided against: 0 for a new stream. */
  readonly expectedVersion: number;
  readonly events: readonly NewEvent[];
  /** Written in the same atomic unit as the events, so a retry never sees events without their outcome. */
  readonly outcomes?: readonly StoredOutcome[];
  /** The stream takes no more commands after this append (closed account, finished transfer). */
  readonly final?: boolean;
}

export type AppendResult =
  | { readonly ok: true; readonly version: number; readonly time: string }
  | { readonly ok: false; readonly reason: "version_conflict"; readonly actualVersion: number }
  | { readonly ok: false; readonly reason: "idempotency_conflict"; readonly key: string };

export interface Snapshot {
  readonly streamId: string;
  readonly version: number;
  readonly snapshotVersion: number;
  readonly state: unknown;
}

export interface ReadStreamOptions {
  /** Only events with a version greater than this. */
  readonly after?: number;
  /** Only events up to and including this version. */
  readonly upTo?: number;
  readonly limit?: number;
}

export interface StreamInfo {
  readonly streamId: string;
  readonly aggregateType: string;
  readonly version: number;
  readonly updatedAt: string;
  readonly final: boolean;
}

/**
 * The event store port: the source of truth and the outbox.
 *
 * Guarantees every adapter must give (checked by `test/event-store.conformance.ts`):
 * - an append is atomic: all its events and outcomes, or nothing;
 * - an idempotency key holds one outcome for good: an append that brings another is refused whole;
 * - an append whose `expectedVersion` is not the stream's version is refused, never half-written;
 * - a resolved append is durable (fsynced / journaled on a majority);
 * - `readAll` returns events in one global order, each exactly once.
 */
export interface EventStore {
  readonly name: string;
  append(request: AppendRequest): Promise<AppendResult>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<EventEnvelope[]>;
  streamInfo(streamId: string): Promise<StreamInfo | undefined>;
  /** Events in global order with `position > after`. */
  readAll(after: number, limit: number): Promise<EventEnvelope[]>;
  /** The position of the newest event, 0 when empty. */
  headPosition(): Promise<number>;
  /** Ids of the streams of one aggregate type that are not final. */
  nonFinalStreams(aggregateType: string): AsyncIterable<string>;
  loadSnapshot(streamId: string): Promise<Snapshot | undefined>;
  saveSnapshot(snapshot: Snapshot): Promise<void>;
  findOutcome(key: string): Promise<StoredOutcome | undefined>;
  /** A named, durable cursor (the relay's progress). */
  loadCheckpoint(name: string): Promise<string | undefined>;
  saveCheckpoint(name: string, value: string): Promise<void>;
  /**
   * Takes or renews a named lease for `ttlMs`: true if `owner` holds it now. Lets one of several
   * relays publish at a time; the others wait for the lease to expire.
   */
  tryLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, owner: string): Promise<void>;
  /**
   * Stores outcomes that wrote no events (refusals, no-ops). The first outcome under a key wins: the
   * answer has, for each one given, `undefined` where it was stored, or the earlier one its key holds.
   */
  saveOutcomes(outcomes: readonly StoredOutcome[]): Promise<(StoredOutcome | undefined)[]>;
  ping(): Promise<void>;
  /** Flushes pending appends, then closes. */
  close(): Promise<void>;
}

/** The store's write pipeline is full: the caller should shed load. */
export class StoreOverloadedError extends Error {
  override readonly name = "StoreOverloadedError";
}

/**
 * The store cannot write now (its disk is full, its server is down or read-only): nothing of the
 * write was kept, and trying again later may work. `cause` names why, for the log.
 */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
}
