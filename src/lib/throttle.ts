import { realScheduler, type Scheduler } from "./scheduler.ts";

export interface Throttle {
  /** Asks for the task: run at once, or at the end of the interval under way (once, however often asked). */
  request(): void;
  /** Drops a run asked for and not yet made. */
  cancel(): void;
}

/**
 * Runs `task` at most once per `everyMs`: the first request at once, those within the interval after
 * it as one run at its end. The last request is never dropped, so whoever waits for the task (a relay
 * that went idle, waiting for news of appends) hears of it within `everyMs`.
 */
export const throttle = (
  task: () => void,
  everyMs: number,
  scheduler: Scheduler = realScheduler,
): Throttle => {
  let cooling: (() => void) | undefined;
  let again = false;
  const run = () => {
    task();
    cooling = scheduler.after(everyMs, () => {
      cooling = undefined;
      if (!again) return;
      again = false;
      run();
    });
  };
  return {
    request: () => {
      if (cooling) again = true;
      else run();
    },
    cancel: () => {
      cooling?.();
      cooling = undefined;
      again = false;
    },
  };
};
