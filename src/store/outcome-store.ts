/** The outcome of a command sent with an idempotency key; the store keeps `outcome` as opaque JSON. */
export interface StoredOutcome {
  readonly key: string;
  /** A hash of everything that makes two requests "the same". */
  readonly fingerprint: string;
  readonly outcome: unknown;
}

/**
 * Outcomes under idempotency keys. They are written by `EventStore.append`, with events or without
 * (a refusal, a no-op), always checked against the stream's version; one key holds one outcome for good.
 */
export interface OutcomeStore {
  findOutcome(key: string): Promise<StoredOutcome | undefined>;
}
