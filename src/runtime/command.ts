import type { Message, Rejection } from "../aggregate.ts";
import type { StoredOutcome } from "../store/outcome-store.ts";

/** Where a command came from; copied into the metadata of every event it causes. */
export interface CommandMetadata {
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceparent?: string;
  /**
   * When the engine took the command (ISO 8601, from its clock): `DecideContext.now`. Set by the
   * engine as the command is sent; a caller that sets it (a test, a replay) decides at that instant.
   */
  readonly issuedAt?: string;
}

/** Makes a command safe to send again: the same key gets the outcome of its first decision. */
export interface IdempotencyRequest {
  /** A key from `callerKey` or `processKey` (see `idempotency.ts`): their namespaces never meet. */
  readonly key: string;
  /** A hash of everything that makes two requests "the same"; another one under the key is refused. */
  readonly fingerprint: string;
  /**
   * Whether a refusal is kept under the key too (default true: a client's retry gets the first
   * answer even once the command would pass). A process step whose refusal is temporary sets it false,
   * so that its retry is decided again while an acceptance is still remembered.
   */
  readonly keepRefusal?: boolean;
}

export interface CommandRequest<C extends Message> {
  readonly command: C;
  /** Run only if the aggregate is at this version (`If-Match`). */
  readonly expectedVersion?: number;
  readonly metadata: CommandMetadata;
  readonly idempotency?: IdempotencyRequest;
}

/**
 * What a command came to, in the domain's terms: accepted, with the aggregate as the command left it,
 * or rejected, with why. This is what is kept under an idempotency key and replayed; how it looks on
 * the wire is for the edge to say.
 */
export type Outcome<S = unknown> = Accepted<S> | Rejected;

export interface Accepted<S = unknown> {
  readonly kind: "accepted";
  /** The aggregate's id (one the server made up included). */
  readonly id: string;
  /** The aggregate's version after the command: its stream's last event number. */
  readonly version: number;
  readonly state: S;
}

export interface Rejected {
  readonly kind: "rejected";
  readonly rejection: Rejection;
}

/** An outcome as its sender gets it: `replayed` when it is the stored outcome of an earlier send. */
export type CommandResult<S = unknown> = Outcome<S> & { readonly replayed: boolean };

export const rejected = (rejection: Rejection): Rejected => ({ kind: "rejected", rejection });

/**
 * The answer to a key sent again: its stored outcome (`replayed`), or, if the request differs, a
 * refusal of the reuse (which replays nothing).
 */
/**
 * What a stored fingerprint reads once its data subject was erased: it was sealed (it hashes the
 * request, personal fields and all), and can no longer be compared. Any request under its key gets the
 * stored outcome: a retry is never decided twice, at the price of a different request under the same
 * key being answered with it rather than refused.
 */
export const ERASED_FINGERPRINT = "*erased*";

export const fromStored = <S>(stored: StoredOutcome, fingerprint: string): CommandResult<S> =>
  stored.fingerprint === fingerprint || stored.fingerprint === ERASED_FINGERPRINT
    ? { ...(stored.outcome as Outcome<S>), replayed: true }
    : {
        ...rejected({
          kind: "key_reused",
          code: "idempotency_key_reused",
          detail: "this Idempotency-Key was used with a different request",
        }),
        replayed: false,
      };
