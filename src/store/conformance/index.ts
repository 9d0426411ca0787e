import { describeDependencyConformance } from "./dependencies.ts";
import { describeEventStoreConformance } from "./events.ts";
import { describeLedgerStoreConformance } from "./ledger.ts";
import { describeOutcomeStoreConformance } from "./outcomes.ts";
import { describeRelayStoreConformance } from "./relay.ts";
import { describeSnapshotStoreConformance } from "./snapshots.ts";
import type { OpenStore } from "./support.ts";

export type { OpenStore };

/**
 * Every port's conformance suite against one adapter: what each guarantee is, said as a test. An
 * adapter of your own passes them all before the engine may rely on it.
 */
export const describeStoreConformance = (name: string, open: OpenStore) => {
  describeEventStoreConformance(name, open);
  describeDependencyConformance(name, open);
  describeOutcomeStoreConformance(name, open);
  describeSnapshotStoreConformance(name, open);
  describeRelayStoreConformance(name, open);
  describeLedgerStoreConformance(name, open);
};
