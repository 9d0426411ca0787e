import { StoreUnavailableError } from "./event-store.ts";

/**
 * Whether a store's writes work, in episodes: the first failure for a reason that outlasts a retry
 * (a full disk, a lost server) opens one and is told (`onWritable(cause)`), the writes that fail alike
 * after it are not, and it closes, told with `undefined`, once writes have gone `healthyAfterMs`
 * without such a failure: one success between failures (a full disk's WAL reusing its space) is not
 * health. One line per episode for the log, however many writes failed.
 */
export class WriteHealth {
  private failing: { cause: string; lastFailedAt: number } | undefined;

  constructor(
    private readonly onWritable: (cause: string | undefined) => void = () => {},
    private readonly healthyAfterMs = 2_000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** A write worked. */
  succeeded(): void {
    if (this.failing && this.now() - this.failing.lastFailedAt >= this.healthyAfterMs) {
      this.failing = undefined;
      this.onWritable(undefined);
    }
  }

  /**
   * A write failed for `cause`: the error to throw in its place. A store's own error is thrown as it
   * is, since its kind tells the client whether the write may have been kept
   * (`StoreOutcomeUnknownError`) or surely was not; anything else becomes `StoreUnavailableError`.
   */
  failed(cause: string, error: unknown): StoreUnavailableError {
    if (!this.failing) this.onWritable(cause);
    this.failing = { cause, lastFailedAt: this.now() };
    if (error instanceof StoreUnavailableError) return error;
    return new StoreUnavailableError(`the event store cannot write: ${cause}`, { cause: error });
  }

  /** While an episode lasts: the error that says so (for readiness); else undefined. */
  get problem(): StoreUnavailableError | undefined {
    if (!this.failing) return undefined;
    const ago = this.now() - this.failing.lastFailedAt;
    return new StoreUnavailableError(`the event store cannot write: ${this.failing.cause}, ${ago} ms ago`);
  }
}
