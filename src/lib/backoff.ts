export interface BackoffOptions {
  /** The wait after the first failure. */
  readonly baseMs: number;
  /** No wait is longer than this. */
  readonly maxMs: number;
  /**
   * Spread each wait over [wait × (1 - jitter), wait] at random (default 0), so that many callers that
   * failed together do not all try again together.
   */
  readonly jitter?: number;
}

/** Doubling waits: `baseMs` after try 1 failed, twice that after try 2, … up to `maxMs`. */
export const exponentialBackoff =
  ({ baseMs, maxMs, jitter = 0 }: BackoffOptions) =>
  (attempt: number): number => {
    const wait = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
    return jitter > 0 ? wait * (1 - jitter * Math.random()) : wait;
  };
