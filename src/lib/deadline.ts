import { realScheduler, type Scheduler } from "./scheduler.ts";

/** A moment by which work must be answered: how much time is left of it. */
export interface Deadline {
  /** Milliseconds left; 0 or less once it has passed. */
  left(): number;
}

export const deadlineIn = (ms: number, scheduler: Scheduler = realScheduler): Deadline => {
  const at = scheduler.now() + ms;
  return { left: () => at - scheduler.now() };
};

export const noDeadline: Deadline = { left: () => Number.POSITIVE_INFINITY };

/**
 * `work`'s answer, or the error `expired()` makes once `ms` have passed without one, whichever comes
 * first. The work is not stopped (a driver call cannot always be): `expired` is asked at that moment,
 * so it can say what the work had done by then.
 */
export const answerWithin = <T>(
  work: Promise<T>,
  ms: number,
  expired: () => Error,
  scheduler: Scheduler = realScheduler,
): Promise<T> => {
  if (!Number.isFinite(ms)) return work;
  let cancel = () => {};
  const timeout = new Promise<never>((_, reject) => {
    cancel = scheduler.after(ms, () => reject(expired()));
  });
  return Promise.race([work, timeout]).finally(cancel);
};
