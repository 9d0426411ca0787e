import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Recent } from "./recent.ts";

describe("Recent", () => {
  test("an entry is found until half the time has passed, and never once the whole time has", () => {
    let now = 0;
    const recent = new Recent<string, number>(100, 1_000, () => now);
    recent.set("a", 1);
    now = 499;
    expect(recent.get("a")).toBe(1);
    now = 999;
    expect(recent.get("a")).toBe(1);
    now = 1_000;
    expect(recent.get("a")).toBeUndefined();
  });

  test("keeps at most `most` entries, the newest", () => {
    const recent = new Recent<number, number>(10, 60_000, () => 0);
    for (let i = 0; i < 25; i++) recent.set(i, i);
    expect(recent.size).toBeLessThanOrEqual(10);
    expect(recent.get(24)).toBe(24);
    expect(recent.get(0)).toBeUndefined();
  });

  test("delete and deleteWhere drop entries in both generations", () => {
    let now = 0;
    const recent = new Recent<string, string>(100, 1_000, () => now);
    recent.set("old-a", "a");
    recent.set("old-b", "b");
    now = 600;
    recent.set("new-a", "a");
    recent.deleteWhere((value) => value === "a");
    recent.delete("old-b");
    expect([recent.get("old-a"), recent.get("new-a"), recent.get("old-b")]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  test("against a model: what it answers is the last value set, set less than `ms` ago; it never holds more than `most`", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), key: fc.nat(20), value: fc.nat(), wait: fc.nat(400) }),
      fc.record({ kind: fc.constant("get" as const), key: fc.nat(20), wait: fc.nat(400) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 30 }),
        fc.integer({ min: 0, max: 2_000 }),
        fc.array(op),
        (most, ms, ops) => {
          let now = 0;
          const recent = new Recent<number, number>(most, ms, () => now);
          const last = new Map<number, { value: number; at: number }>();
          for (const o of ops) {
            now += o.wait;
            if (o.kind === "set") {
              recent.set(o.key, o.value);
              last.set(o.key, { value: o.value, at: now });
            } else {
              const found = recent.get(o.key);
              if (found !== undefined) {
                const set = last.get(o.key);
                expect(found).toBe(set?.value as number);
                expect(now - (set?.at ?? 0)).toBeLessThan(ms);
              }
            }
            expect(recent.size).toBeLessThanOrEqual(most);
          }
        },
      ),
    );
  });
});
