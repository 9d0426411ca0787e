import { expect, test } from "bun:test";
import { ManualScheduler } from "../testing/manual-scheduler.ts";
import { throttle } from "./throttle.ts";

test("the first request runs at once, those within the interval as one run at its end, none lost", async () => {
  const time = new ManualScheduler();
  const runs: number[] = [];
  const wake = throttle(() => runs.push(time.now()), 5, time);
  wake.request();
  expect(runs).toEqual([0]);
  await time.advance(2);
  wake.request();
  wake.request();
  wake.request();
  expect(runs).toEqual([0]);
  await time.advance(3);
  expect(runs).toEqual([0, 5]);
  // Nothing asked for since: the next interval passes without a run.
  await time.advance(20);
  expect(runs).toEqual([0, 5]);
  wake.request();
  expect(runs).toEqual([0, 5, 25]);
});

test("cancel drops the run asked for", async () => {
  const time = new ManualScheduler();
  const runs: number[] = [];
  const wake = throttle(() => runs.push(time.now()), 5, time);
  wake.request();
  wake.request();
  wake.cancel();
  await time.advance(10);
  expect(runs).toEqual([0]);
});
