import { afterAll } from "bun:test";
import type { NewEvent } from "../envelope.ts";
import type { Store } from "../store.ts";

/** Opens a store over the suite's data; opening twice gives two clients of the same data. */
export type OpenStore = (onBatch?: (size: number) => void) => Promise<Store>;

export const event = (type: string, data: Record<string, unknown> = {}): NewEvent => ({
  eventId: Bun.randomUUIDv7(),
  type,
  schemaVersion: 1,
  data,
  metadata: { commandId: "c", correlationId: "corr", causationId: "cause" },
});

let streams = 0;
/** A stream id no other test of the run uses (the data may be shared with other runs). */
export const newStream = () => `conformance-${Date.now().toString(36)}-${++streams}`;

/** Opens clients for one suite and closes them all after it. Call inside its `describe`. */
export const clients = (open: OpenStore) => {
  const opened: Store[] = [];
  afterAll(async () => {
    for (const store of opened) await store.close().catch(() => {});
  });
  return {
    open,
    connect: async (onBatch?: (size: number) => void) => {
      const store = await open(onBatch);
      opened.push(store);
      return store;
    },
  };
};
