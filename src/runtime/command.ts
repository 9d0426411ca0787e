import type { Message, Rejection } from "../aggregate.ts";
import type { StoredReply } from "../store/event-store.ts";

/** Where a command came from; copied into the metadata of every event it causes. */
export interface CommandMetadata {
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceparent?: string;
}

/** The HTTP answer to remember for an `Idempotency-Key`. */
export interface Reply {
  readonly status: number;
  readonly body: unknown;
}

export interface IdempotencyRequest<S> {
  /** Scoped key (principal + client key). */
  readonly key: string;
  readonly fingerprint: string;
  /** Builds the answer to store with the events, before they are written. */
  readonly toReply: (outcome: DecidedOutcome<S>) => Reply;
}

export interface CommandRequest<C extends Message, S = unknown> {
  readonly command: C;
  /** From `If-Match`: run only if the aggregate is at this version. */
  readonly expectedVersion?: number;
  readonly metadata: CommandMetadata;
  readonly idempotency?: IdempotencyRequest<S>;
}

export interface Accepted<S> {
  readonly kind: "accepted";
  readonly state: S;
  readonly version: number;
  readonly events: readonly Message[];
  readonly updatedAt: string;
}

export interface Refused<S> {
  readonly kind: "refused";
  readonly rejection: Rejection;
  readonly state: S;
  readonly version: number;
}

/** The same idempotency key was answered before: here is that answer (or 422 if the request differs). */
export interface Replayed {
  readonly kind: "replayed";
  readonly reply: StoredReply;
  readonly sameRequest: boolean;
}

export type DecidedOutcome<S> = Accepted<S> | Refused<S>;
export type CommandOutcome<S> = DecidedOutcome<S> | Replayed;
