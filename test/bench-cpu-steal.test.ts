import { describe, expect, test } from "bun:test";
import { measureCpuShares, parseProcStat, sharesBetween } from "../bench/lib/cpu-steal.ts";

describe("the bench's CPU steal figure", () => {
  test("steal and idle come from their own columns of /proc/stat's cpu line", () => {
    // user nice system idle iowait irq softirq steal guest guest_nice
    const before = parseProcStat(
      "cpu  1000 0 200 5000 100 0 50 300 0 0\ncpu0 500 0 100 2500 50 0 25 150 0 0\n",
    );
    const after = parseProcStat("cpu  1600 0 300 5200 100 0 50 500 0 0\n");
    expect(before).toEqual({ total: 6650, idle: 5100, steal: 300 });
    if (!before || !after) throw new Error("not parsed");
    // 1 100 ticks in all: 200 stolen, 200 idle.
    const shares = sharesBetween(before, after);
    expect(shares?.stealPct).toBeCloseTo(18.18, 1);
    expect(shares?.idlePct).toBeCloseTo(18.18, 1);
  });

  test("a file that is not /proc/stat measures nothing", () => {
    expect(parseProcStat("")).toBeUndefined();
    expect(parseProcStat("intr 1 2 3\n")).toBeUndefined();
    expect(parseProcStat("cpu  1 2 x 4 5 6 7 8\n")).toBeUndefined();
  });

  test("on this machine a measured interval gives shares between 0 and 100%", async () => {
    const cpu = measureCpuShares();
    await Bun.sleep(50);
    const shares = cpu.stop();
    if (process.platform !== "linux") return expect(shares).toBeUndefined();
    expect(shares?.stealPct).toBeGreaterThanOrEqual(0);
    expect((shares?.stealPct ?? 0) + (shares?.idlePct ?? 0)).toBeLessThanOrEqual(100);
  });
});
