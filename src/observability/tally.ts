import type { Counter } from "prom-client";

type Labels<L extends string> = Partial<Record<L, string | number>>;

/**
 * Counts kept as plain numbers, one per label set, and added to a prom-client counter when it is
 * scraped. prom-client hashes and validates the labels on every `inc`, a bound child's too, and the
 * command path counts twice per request.
 */
export class CounterTally<L extends string> {
  private readonly children: { readonly labels: Labels<L>; pending: number }[] = [];

  /** A counter for one label set; bind once, increment on the hot path. */
  child(labels: Labels<L>): { inc(): void } {
    const child = { labels, pending: 0 };
    this.children.push(child);
    return {
      inc: () => {
        child.pending += 1;
      },
    };
  }

  /** Called from the counter's `collect`, so a scrape sees every increment made before it. */
  flushInto(counter: Counter<L>): void {
    for (const child of this.children) {
      if (child.pending === 0) continue;
      counter.inc(child.labels, child.pending);
      child.pending = 0;
    }
  }
}
