/** What the outbox relay keeps beside the events: its progress, and who may publish. */
export interface RelayStore {
  /** A named, durable cursor (the relay's progress). */
  loadCheckpoint(name: string): Promise<string | undefined>;
  saveCheckpoint(name: string, value: string): Promise<void>;
  /**
   * Takes or renews a named lease for `ttlMs`: true if `owner` holds it now. Lets one of several
   * relays publish at a time; the others wait for the lease to expire.
   */
  tryLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, owner: string): Promise<void>;
}
