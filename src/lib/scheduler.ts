/**
 * Time, as the parts that wait on it see it: what time it is, and run this later. The real one is the
 * event loop's; a test hands in a manual one and moves time itself (`src/testing/manual-scheduler.ts`),
 * so what a test says about waiting needs no sleep.
 */
export interface Scheduler {
  /** Milliseconds, only ever increasing. */
  now(): number;
  /** Runs `task` after `ms`; the answer cancels it. */
  after(ms: number, task: () => void): () => void;
  /** Runs `task` on the next turn of the event loop, after what is ready now. */
  soon(task: () => void): void;
}

export const realScheduler: Scheduler = {
  now: () => performance.now(),
  after: (ms, task) => {
    const timer = setTimeout(task, ms);
    return () => clearTimeout(timer);
  },
  soon: (task) => setImmediate(task),
};

/** Resolves after `ms` on `scheduler`. */
export const sleep = (scheduler: Scheduler, ms: number): Promise<void> =>
  new Promise((resolve) => scheduler.after(ms, resolve));
