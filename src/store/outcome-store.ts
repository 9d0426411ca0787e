/** The outcome of a command sent with an idempotency key; the store keeps `outcome` as opaque JSON. */
export interface StoredOutcome {
  readonly key: string;
  /** A hash of everything that makes two requests "the same". */
  readonly fingerprint: string;
  readonly outcome: unknown;
}

/**
 * Outcomes under idempotency keys. One key holds one outcome for good, whether it came with events
 * (through `EventStore.append`) or without (here): both share one uniqueness.
 */
export interface OutcomeStore {
  findOutcome(key: string): Promise<StoredOutcome | undefined>;
  /**
   * Stores outcomes that wrote no events (refusals, no-ops). The first outcome under a key wins: the
   * answer has, for each one given, `undefined` where it was stored, or the earlier one its key holds.
   */
  saveOutcomes(outcomes: readonly StoredOutcome[]): Promise<(StoredOutcome | undefined)[]>;
}
