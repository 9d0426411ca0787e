export interface PollOptions {
  /** Give up after this long. */
  readonly timeoutMs: number;
  /** The pause between two reads (default 25 ms). */
  readonly intervalMs?: number;
}

/**
 * Reads until `done` holds and returns that value, or `undefined` once `timeoutMs` has passed: for the
 * few things no event announces (another process's progress, a server coming up).
 */
export const pollUntil = async <T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs, intervalMs = 25 }: PollOptions,
): Promise<T | undefined> => {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    const left = deadline - performance.now();
    if (left <= 0) return undefined;
    await Bun.sleep(Math.min(intervalMs, left));
  }
};
