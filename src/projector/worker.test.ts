import { describe, expect, test } from "bun:test";
import type { EventEnvelope } from "../store/envelope.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import type { Projection } from "./projection.ts";
import { projectionHandler } from "./worker.ts";

const event = (position: number, streamId: string, version: number): EventEnvelope => ({
  position,
  eventId: `event-${position}`,
  streamId,
  aggregateType: "account",
  version,
  type: "MoneyDeposited",
  schemaVersion: 1,
  data: { amount: position },
  metadata: { commandId: "c", correlationId: "c", causationId: "c" },
  time: new Date(position * 1000).toISOString(),
});

const projection: Projection = {
  name: "counting",
  aggregateTypes: ["account"],
  apply: async () => {},
  reset: async () => {},
  ping: async () => {},
};

describe("a projection's batch handler", () => {
  test("says the newest event applied, not the batch's last: shards' deliveries interleave", async () => {
    const applied: [number, number][] = [];
    const handle = projectionHandler(projection, new MemoryStore(), {
      onApplied: (count, newest) => applied.push([count, newest.position]),
    });
    // Shard A's events of positions 7 and 9 arrived before shard B's of position 4.
    const batch = [event(7, "account-a", 1), event(9, "account-a", 2), event(4, "account-b", 1)];
    await handle(batch.map((e) => ({ event: e, attempt: 1 })));
    expect(applied).toEqual([[3, 9]]);
  });
});
