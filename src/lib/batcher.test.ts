import { describe, expect, test } from "bun:test";
import { ManualScheduler } from "../testing/manual-scheduler.ts";
import { Batcher, type BatcherOptions } from "./batcher.ts";

/** A writer that takes batches in order and answers each only when the test says so. */
const manualWriter = () => {
  const batches: { requests: readonly number[]; answer: () => void }[] = [];
  const write = (requests: readonly number[]) =>
    new Promise<readonly string[]>((resolve) => {
      batches.push({ requests, answer: () => resolve(requests.map((r) => `done ${r}`)) });
    });
  return { batches, write };
};

/** A batcher on manual time: `time.settle()` lets what is ready run, `time.advance(ms)` moves the clock. */
const onManualTime = <Res>(
  write: (batch: readonly number[]) => Promise<readonly Res[]> | readonly Res[],
  options: BatcherOptions<number>,
) => {
  const time = new ManualScheduler();
  return { time, batcher: new Batcher(write, { ...options, scheduler: time }) };
};

describe("batcher", () => {
  test("one batch in flight by default: requests that arrive meanwhile wait and go together", async () => {
    const writer = manualWriter();
    const { time, batcher: committer } = onManualTime(writer.write, { maxBatch: 100 });
    const first = committer.submit(1);
    await time.settle();
    const later = [2, 3, 4].map((r) => committer.submit(r));
    await time.settle();
    expect(writer.batches.map((b) => b.requests)).toEqual([[1]]);
    writer.batches[0]?.answer();
    expect(await first).toBe("done 1");
    await time.settle();
    expect(writer.batches.map((b) => b.requests)).toEqual([[1], [2, 3, 4]]);
    writer.batches[1]?.answer();
    expect(await Promise.all(later)).toEqual(["done 2", "done 3", "done 4"]);
  });

  test("two in flight: the next batch is handed over before the first is answered, each request gets its own answer", async () => {
    const writer = manualWriter();
    const { time, batcher: committer } = onManualTime(writer.write, { maxBatch: 100, maxInFlight: 2 });
    const first = committer.submit(1);
    await time.settle();
    const second = [2, 3].map((r) => committer.submit(r));
    await time.settle();
    const third = [4, 5].map((r) => committer.submit(r));
    await time.settle();
    expect(writer.batches.map((b) => b.requests)).toEqual([[1], [2, 3]]);

    let drained = false;
    const draining = committer.drain().then(() => {
      drained = true;
    });
    writer.batches[0]?.answer();
    expect(await first).toBe("done 1");
    await time.settle();
    expect(writer.batches.map((b) => b.requests)).toEqual([[1], [2, 3], [4, 5]]);
    writer.batches[1]?.answer();
    writer.batches[2]?.answer();
    expect(await Promise.all([...second, ...third])).toEqual(["done 2", "done 3", "done 4", "done 5"]);
    await draining;
    expect(drained).toBe(true);
  });

  test("a failed batch rejects its own requests only", async () => {
    let calls = 0;
    const { time, batcher: committer } = onManualTime(
      async (batch: readonly number[]) => {
        calls += 1;
        if (calls === 1) throw new Error("disk full");
        return batch.map((r) => r * 10);
      },
      { maxBatch: 100, maxInFlight: 2 },
    );
    const doomed = committer.submit(1).catch((error: Error) => error.message);
    await time.settle();
    const fine = committer.submit(2);
    await time.settle();
    expect(await doomed).toBe("disk full");
    expect(await fine).toBe(20);
  });

  test("each request's wait in the queue is told as its batch leaves: behind a batch in flight, and lingering", async () => {
    const writer = manualWriter();
    const waits: number[] = [];
    const { time, batcher: committer } = onManualTime(writer.write, {
      maxBatch: 100,
      lingerMs: 10,
      onWaited: (ms) => waits.push(ms),
    });
    const first = committer.submit(1);
    await time.advance(4);
    const second = committer.submit(2);
    await time.advance(6);
    // The first lingered 10 ms, the second 6, and they left together.
    expect(writer.batches.map((b) => b.requests)).toEqual([[1, 2]]);
    expect(waits).toEqual([10, 6]);
    const third = committer.submit(3);
    await time.advance(25);
    // One batch in flight: the third waits behind it, not for its own linger.
    expect(waits).toEqual([10, 6]);
    writer.batches[0]?.answer();
    await time.settle();
    expect(writer.batches.map((b) => b.requests)).toEqual([[1, 2], [3]]);
    expect(waits).toEqual([10, 6, 25]);
    writer.batches[1]?.answer();
    expect(await Promise.all([first, second, third])).toEqual(["done 1", "done 2", "done 3"]);
  });

  test("weighted: a lingering batch closes once its requests weigh maxBatch, and a batch never exceeds it", async () => {
    const writer = manualWriter();
    const { time, batcher: committer } = onManualTime(writer.write, {
      maxBatch: 10,
      lingerMs: 60_000,
      weigh: (request: number) => request,
    });
    const small = [3, 4].map((r) => committer.submit(r));
    await time.settle();
    // 7 of 10: still lingering.
    expect(writer.batches).toHaveLength(0);
    const heavy = [5, 12].map((r) => committer.submit(r));
    await time.settle();
    // 3 + 4 + 5 would be 12: the batch goes at 7; then 5 alone (5 + 12 is over); 12 is over on its own.
    expect(writer.batches.map((b) => b.requests)).toEqual([[3, 4]]);
    writer.batches[0]?.answer();
    expect(await Promise.all(small)).toEqual(["done 3", "done 4"]);
    await time.settle();
    expect(writer.batches.map((b) => b.requests)).toEqual([[3, 4], [5]]);
    writer.batches[1]?.answer();
    await time.settle();
    expect(writer.batches.map((b) => b.requests)).toEqual([[3, 4], [5], [12]]);
    writer.batches[2]?.answer();
    expect(await Promise.all(heavy)).toEqual(["done 5", "done 12"]);
  });

  test("min interval: after a quiet spell a request goes at once; the next batch waits out the interval, unless full", async () => {
    const writer = manualWriter();
    const { time, batcher: committer } = onManualTime(writer.write, { maxBatch: 3, minIntervalMs: 300 });
    const first = committer.submit(1);
    await time.settle();
    expect(writer.batches.map((b) => b.requests)).toEqual([[1]]);
    writer.batches[0]?.answer();
    await first;

    const steady = [2, 3].map((r) => committer.submit(r));
    await time.advance(299);
    // Within 300 ms of the first batch: these two wait for the interval.
    expect(writer.batches).toHaveLength(1);
    await time.advance(1);
    expect(writer.batches.map((b) => b.requests)).toEqual([[1], [2, 3]]);
    writer.batches[1]?.answer();
    await Promise.all(steady);

    const full = [4, 5, 6].map((r) => committer.submit(r));
    await time.settle();
    // Within the interval again, but the batch is full: it goes now.
    expect(writer.batches.map((b) => b.requests)).toEqual([[1], [2, 3], [4, 5, 6]]);
    writer.batches[2]?.answer();
    expect(await Promise.all(full)).toEqual(["done 4", "done 5", "done 6"]);
  });
});
