import { describe, expect, test } from "bun:test";
import { forEachInSlices } from "./event-loop.ts";

describe("forEachInSlices", () => {
  test("lets the event loop run between slices, not within one", async () => {
    const seen: string[] = [];
    // Stands for a request that arrived while the loop was busy.
    setImmediate(() => seen.push("request"));
    await forEachInSlices([1, 2, 3, 4, 5], 2, (n) => {
      seen.push(String(n));
    });
    expect(seen).toEqual(["1", "2", "request", "3", "4", "5"]);
  });

  test("awaits each item's promise before the next, and a rejection stops the loop", async () => {
    const seen: number[] = [];
    const run = forEachInSlices([30, 1, 20, 2], 10, async (ms) => {
      await Bun.sleep(ms);
      if (ms === 20) throw new Error("bad item");
      seen.push(ms);
    });
    await expect(run).rejects.toThrow("bad item");
    expect(seen).toEqual([30, 1]);
  });
});
