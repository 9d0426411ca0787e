import type { EventStore } from "./event-store.ts";
import type { LedgerStore } from "./ledger-store.ts";
import type { OutcomeStore } from "./outcome-store.ts";
import type { RelayStore } from "./relay-store.ts";
import type { SnapshotStore } from "./snapshot-store.ts";

/**
 * One adapter's ports together, as the composition root opens it: each part of the engine takes only
 * the ports it uses.
 */
export interface Store extends EventStore, SnapshotStore, OutcomeStore, RelayStore, LedgerStore {
  readonly name: string;
  /** Resolves while the store can read and write; rejects naming why not. */
  ping(): Promise<void>;
  /** Flushes pending writes, then closes. */
  close(): Promise<void>;
}
