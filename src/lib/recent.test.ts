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

  test("against a model: it answers the last value set, set less than `ms` ago; what was set less than half that ago, with fewer than half of `most` sets since, it finds; it never holds more than `most`", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), key: fc.nat(20), value: fc.nat(), wait: fc.nat(400) }),
      fc.record({ kind: fc.constant("get" as const), key: fc.nat(20), wait: fc.nat(400) }),
      fc.record({ kind: fc.constant("delete" as const), key: fc.nat(20), wait: fc.nat(400) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 30 }),
        fc.integer({ min: 0, max: 2_000 }),
        fc.array(op),
        (most, ms, ops) => {
          let now = 0;
          let sets = 0;
          const recent = new Recent<number, number>(most, ms, () => now);
          /** Each key's last value, when it was set, and how many sets had been made by then. */
          const last = new Map<number, { value: number; at: number; sets: number }>();
          for (const o of ops) {
            now += o.wait;
            if (o.kind === "set") {
              recent.set(o.key, o.value);
              sets += 1;
              last.set(o.key, { value: o.value, at: now, sets });
            } else if (o.kind === "delete") {
              recent.delete(o.key);
              last.delete(o.key);
            } else {
              const found = recent.get(o.key);
              const set = last.get(o.key);
              if (found !== undefined) {
                expect(found).toBe(set?.value as number);
                expect(now - (set?.at ?? 0)).toBeLessThan(ms);
              } else if (set) {
                const young = now - set.at < ms / 2;
                const roomy = sets - set.sets < Math.floor(most / 2);
                expect(young && roomy).toBe(false);
              }
            }
            expect(recent.size).toBeLessThanOrEqual(most);
          }
        },
      ),
    );
  });

  test("a clock set back lets go of everything", () => {
    let now = 10_000;
    const recent = new Recent<string, number>(100, 1_000, () => now);
    recent.set("a", 1);
    now = 5_000;
    expect(recent.get("a")).toBeUndefined();
  });
});
