import type { Scheduler } from "../lib/scheduler.ts";

/**
 * Lets every promise that can settle settle, and I/O that has arrived be delivered: a real turn of the
 * event loop (a timer of 0, as immediates alone may run without polling I/O), not a wait.
 */
const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * A scheduler whose time moves only when the test says: `advance(ms)` runs what falls due, in order,
 * and `settle()` runs what is queued for the next turn, each time letting promises settle, until
 * nothing more is ready.
 */
export class ManualScheduler implements Scheduler {
  private time = 0;
  private nextId = 0;
  private readonly timers = new Map<number, { at: number; task: () => void }>();
  private queued: (() => void)[] = [];

  now(): number {
    return this.time;
  }

  after(ms: number, task: () => void): () => void {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + Math.max(0, ms), task });
    return () => this.timers.delete(id);
  }

  soon(task: () => void): void {
    this.queued.push(task);
  }

  /** Runs what is queued and what is due now, until nothing is. */
  async settle(): Promise<void> {
    for (let rounds = 0; rounds < 10_000; rounds++) {
      await turn();
      const ready = this.queued;
      this.queued = [];
      const due = [...this.timers].filter(([, t]) => t.at <= this.time).sort(([, a], [, b]) => a.at - b.at);
      for (const [id] of due) this.timers.delete(id);
      if (ready.length === 0 && due.length === 0) return;
      for (const task of ready) task();
      for (const [, { task }] of due) task();
    }
    throw new Error("ManualScheduler: still busy after 10 000 rounds");
  }

  /** Moves time on by `ms`, running each timer as its moment comes. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await this.settle();
    for (;;) {
      const next = Math.min(...[...this.timers.values()].map((t) => t.at));
      if (!(next <= end)) break;
      this.time = Math.max(this.time, next);
      await this.settle();
    }
    this.time = end;
    await this.settle();
  }
}
