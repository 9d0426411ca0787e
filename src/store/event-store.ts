import type { EventEnvelope, NewEvent } from "./envelope.ts";
import type { StoredOutcome } from "./outcome-store.ts";

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
  /**
   * Other streams the decision read, at the versions it read them (0: no events): the append is
   * refused whole, `dependency_conflict`, if any of them is elsewhere, checked atomically with it.
   */
  readonly dependsOn?: readonly StreamVersion[];
}

export interface StreamVersion {
  readonly streamId: string;
  readonly version: number;
}

export type AppendResult =
  | { readonly ok: true; readonly version: number; readonly time: string }
  | { readonly ok: false; readonly reason: "version_conflict"; readonly actualVersion: number }
  | { readonly ok: false; readonly reason: "idempotency_conflict"; readonly key: string }
  | {
      readonly ok: false;
      readonly reason: "dependency_conflict";
      /** The first stream of `dependsOn` found elsewhere, and where it is. */
      readonly streamId: string;
      readonly actualVersion: number;
    };

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
 * The events port: the source of truth and the outbox. Guarantees every adapter gives (the
 * conformance suite in `conformance/events.ts` says each in a test):
 * - an append is atomic: all its events and outcomes, or nothing; one larger than the store takes is
 *   refused whole with `AppendTooLargeError`, its neighbours in a batch unharmed;
 * - an append whose `expectedVersion` is not the stream's version is refused, never half-written;
 * - so is one that names, in `dependsOn`, another stream that is not at the version named: checked
 *   atomically with the append, so no write to that stream falls between the check and the append;
 * - an idempotency key holds one outcome for good: an append that brings another is refused whole;
 * - a resolved append is durable (fsynced / journaled on a majority);
 * - `readAll` returns events in one global order, each exactly once, never skipping one for good.
 *
 * An append that fails says which way: `StoreUnavailableError`, nothing of it was written;
 * `StoreOutcomeUnknownError`, it may have been (a retry under the same idempotency key finds out).
 * The difference reaches the client: one it believes "not written" it may send again as new.
 */
export interface EventStore {
  append(request: AppendRequest): Promise<AppendResult>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<EventEnvelope[]>;
  streamInfo(streamId: string): Promise<StreamInfo | undefined>;
  /** Events in global order with `position > after`. */
  readAll(after: number, limit: number): Promise<EventEnvelope[]>;
  /** The position of the newest event, 0 when empty. */
  headPosition(): Promise<number>;
  /** Ids of the streams of one aggregate type whose last append was not final. */
  nonFinalStreams(aggregateType: string): AsyncIterable<string>;
}

/** The store's write pipeline is full: the caller should shed load. */
export class StoreOverloadedError extends Error {
  override readonly name = "StoreOverloadedError";
}

/**
 * The store cannot write now (its disk is full, its server is down or read-only): the write was not
 * acknowledged, and trying again later may work. `cause` names why, for the log.
 */
export class StoreUnavailableError extends Error {
  override readonly name: string = "StoreUnavailableError";
}

/**
 * One append is larger than the store can keep as one atomic unit (MongoDB: a 16 MiB document).
 * Nothing of it was written; the same append will never fit, but fewer commands' events in it may.
 */
export class AppendTooLargeError extends Error {
  override readonly name = "AppendTooLargeError";
}

/**
 * The store could not tell whether a write was kept (a network error after it was sent, a majority
 * that did not answer in time) and could not find out: it may be written. Not acknowledged all the
 * same; a retry under the same idempotency key finds out which.
 */
export class StoreOutcomeUnknownError extends StoreUnavailableError {
  override readonly name = "StoreOutcomeUnknownError";
}
