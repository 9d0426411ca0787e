import { describe, expect, test } from "bun:test";
import type { EventEnvelope } from "../store/envelope.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { upcasterOf, upcastingStore } from "./upcast.ts";

const envelope = (type: string, schemaVersion: number, data: Record<string, unknown>): EventEnvelope => ({
  eventId: "e",
  streamId: "thing-1",
  aggregateType: "thing",
  type,
  version: 1,
  schemaVersion,
  time: "2026-12-07T00:00:00.000Z",
  data,
  metadata: { commandId: "c", correlationId: "c", causationId: "c" },
  position: 1,
});

/** Version 2 added `unit` to `Measured`; version 3 renamed it `Weighed`; `Noted` never changed. */
const thing = {
  type: "thing",
  eventSchemaVersion: 3,
  upcasters: [
    {
      type: "Measured",
      from: 1,
      upcast: (data: Record<string, unknown>) => ({ type: "Measured", data: { ...data, unit: "g" } }),
    },
    { type: "Measured", from: 2, upcast: (data: Record<string, unknown>) => ({ type: "Weighed", data }) },
  ],
};

describe("upcasting", () => {
  const upcast = upcasterOf([thing]);

  test("an event stored in an older shape reads in the current one, step by step, its stored version named", () => {
    expect(upcast(envelope("Measured", 1, { grams: 5 }))).toMatchObject({
      type: "Weighed",
      schemaVersion: 1,
      data: { grams: 5, unit: "g" },
    });
    expect(upcast(envelope("Measured", 2, { grams: 5, unit: "kg" }))).toMatchObject({
      type: "Weighed",
      schemaVersion: 2,
      data: { grams: 5, unit: "kg" },
    });
  });

  test("a current event, a type no step names, and an aggregate with no steps read as stored", () => {
    const current = envelope("Weighed", 3, { grams: 5, unit: "g" });
    expect(upcast(current)).toBe(current);
    const noted = envelope("Noted", 1, { text: "x" });
    expect(upcast(noted)).toEqual(noted);
    const other = { ...envelope("Measured", 1, { grams: 5 }), aggregateType: "other" };
    expect(upcast(other)).toBe(other);
  });

  test("a step that could never run, or two for one version, is refused at start", () => {
    const step = {
      type: "Measured",
      from: 3,
      upcast: (data: Record<string, unknown>) => ({ type: "Measured", data }),
    };
    expect(() => upcasterOf([{ ...thing, upcasters: [step] }])).toThrow("can never run");
    const twice = [thing.upcasters[0], thing.upcasters[0]].filter((s) => s !== undefined);
    expect(() => upcasterOf([{ ...thing, upcasters: twice }])).toThrow("two upcasters");
  });

  test("the store read through it gives every read the current shape, and writes what it is given", async () => {
    const store = new MemoryStore();
    const read = upcastingStore(store, upcast);
    await read.append({
      streamId: "thing-1",
      aggregateType: "thing",
      expectedVersion: 0,
      events: [
        {
          eventId: "e1",
          type: "Measured",
          schemaVersion: 1,
          data: { grams: 5 },
          metadata: { commandId: "c", correlationId: "c", causationId: "c" },
        },
      ],
    });
    for (const events of [await read.readAll(0, 10), await read.readStream("thing-1")]) {
      expect(events.map((e) => [e.type, e.schemaVersion, e.data])).toEqual([
        ["Weighed", 1, { grams: 5, unit: "g" }],
      ]);
    }
    // Stored as written.
    expect((await store.readAll(0, 10)).map((e) => [e.type, e.data])).toEqual([["Measured", { grams: 5 }]]);
    expect(await read.headPosition()).toBe(1);
  });
});
