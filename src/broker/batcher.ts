export interface BatcherOptions {
  readonly maxSize: number;
  readonly maxWaitMs: number;
}

interface Waiting<T, R> {
  readonly item: T;
  readonly resolve: (result: R) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Collects items handed in one at a time (as a consumer receives messages) into batches of up to
 * `maxSize`, waiting at most `maxWaitMs` for a batch to fill. Batches run one after another, in
 * order, so the order items arrived in is the order they are handled in.
 */
export class Batcher<T, R> {
  private waiting: Waiting<T, R>[] = [];
  private timer: Timer | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly handle: (items: T[]) => Promise<readonly R[]>,
    private readonly options: BatcherOptions,
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.waiting.length >= this.options.maxSize) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.maxWaitMs);
    });
  }

  /** Resolves when every batch handed over so far has been handled. */
  idle(): Promise<void> {
    if (this.waiting.length > 0) this.flush();
    return this.running;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting.splice(0);
    if (batch.length === 0) return;
    this.running = this.running.then(async () => {
      try {
        const results = await this.handle(batch.map((w) => w.item));
        for (const [i, w] of batch.entries()) w.resolve(results[i] as R);
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    });
  }
}
