import { overriding } from "../lib/overriding.ts";
import type { EventEnvelope } from "../store/envelope.ts";
import type { AppendRequest, AppendResult, ReadStreamOptions } from "../store/event-store.ts";
import type { StoredOutcome } from "../store/outcome-store.ts";
import type { Snapshot } from "../store/snapshot-store.ts";
import type { Store } from "../store/store.ts";
import type { PersonalData } from "./personal-data.ts";

/**
 * The store as the engine reads and writes it: personal fields sealed on the way in (events, the states
 * of kept outcomes, snapshots) and opened on the way out, `[erased]` once their subject was erased.
 * Everything else is the store's own; the relay and the ledger use the store as opened, so the broker
 * and the tree only ever see ciphertext.
 */
export const personalDataStore = <T extends Store>(store: T, personal: PersonalData): T => {
  const overrides: Partial<Store> = {
    append: (request: AppendRequest): Promise<AppendResult> => {
      try {
        const sealed = personal.sealAppend(request);
        return sealed instanceof Promise ? sealed.then((r) => store.append(r)) : store.append(sealed);
      } catch (error) {
        // A value that cannot be sealed fails the append's promise, as every other failure does.
        return Promise.reject(error);
      }
    },
    saveSnapshot: async (snapshot: Snapshot): Promise<void> =>
      store.saveSnapshot(await personal.sealSnapshot(snapshot)),
    readStream: async (streamId: string, options?: ReadStreamOptions): Promise<EventEnvelope[]> =>
      personal.openEvents(await store.readStream(streamId, options)),
    readAll: async (after: number, limit: number): Promise<EventEnvelope[]> =>
      personal.openEvents(await store.readAll(after, limit)),
    loadSnapshot: async (streamId: string): Promise<Snapshot | undefined> =>
      personal.openSnapshot(await store.loadSnapshot(streamId)),
    findOutcome: async (key: string): Promise<StoredOutcome | undefined> =>
      personal.openOutcome(await store.findOutcome(key)),
  };
  return overriding(store, overrides);
};
