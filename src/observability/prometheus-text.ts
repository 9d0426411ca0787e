/**
 * The Prometheus text format (0.0.4) read back: its samples, and histograms' quantiles between two
 * scrapes as Prometheus's own `histogram_quantile()` would compute them. Pure (no DOM, no Bun): the
 * console's page, bundled for the browser, and the bench read `/metrics` with it alike.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const namePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

const parseValue = (text: string): number => {
  if (text === "+Inf" || text === "Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  // Number("") is 0: an empty value is not one.
  return text === "" ? Number.NaN : Number(text);
};

/** `{a="1",b="x\"y"}` from `start` (its `{`): the labels and where they end. */
const parseLabels = (line: string, start: number): { labels: Record<string, string>; end: number } => {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    while (line[i] === " " || line[i] === ",") i += 1;
    if (line[i] === "}") return { labels, end: i + 1 };
    const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i))?.[0];
    if (!name || line[i + name.length] !== "=" || line[i + name.length + 1] !== '"')
      throw new Error(`labels not understood at column ${i}`);
    i += name.length + 2;
    let value = "";
    for (; i < line.length && line[i] !== '"'; i += 1) {
      if (line[i] === "\\") {
        i += 1;
        value += line[i] === "n" ? "\n" : (line[i] ?? "");
      } else value += line[i];
    }
    if (i >= line.length) throw new Error("a label value is not closed");
    labels[name] = value;
    i += 1;
  }
};

/**
 * The samples of a text exposition (format 0.0.4): comments and `# HELP`/`# TYPE` lines skipped, a line
 * it cannot read skipped too (one odd metric must not blank every chart).
 */
export const parsePrometheus = (text: string): Sample[] => {
  const samples: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const name = namePattern.exec(line)?.[0];
    if (!name) continue;
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) {
      try {
        const parsed = parseLabels(rest, 0);
        labels = parsed.labels;
        rest = rest.slice(parsed.end);
      } catch {
        continue;
      }
    }
    const value = parseValue(rest.trim().split(/\s+/)[0] ?? "");
    if (!Number.isNaN(value)) samples.push({ name, labels, value });
  }
  return samples;
};

export type LabelFilter = (labels: Readonly<Record<string, string>>) => boolean;
const everything: LabelFilter = () => true;

/** The sum of every sample of `name` whose labels pass `where`: a counter across its label sets. */
export const total = (samples: readonly Sample[], name: string, where = everything): number =>
  samples.reduce((sum, s) => (s.name === name && where(s.labels) ? sum + s.value : sum), 0);

/** The values one label takes among the samples of `name`, sorted. */
export const labelValues = (samples: readonly Sample[], name: string, label: string): string[] =>
  [...new Set(samples.flatMap((s) => (s.name === name && s.labels[label] ? [s.labels[label]] : [])))].sort();

/** A histogram's cumulative counts by upper bound (`le`), ascending, the last one `+Inf`. */
export type Buckets = readonly { readonly le: number; readonly count: number }[];

/** The buckets of histogram `name`, summed over every label set that passes `where`. */
export const buckets = (samples: readonly Sample[], name: string, where = everything): Buckets => {
  const byBound = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !where(s.labels) || s.labels.le === undefined) continue;
    const le = parseValue(s.labels.le);
    byBound.set(le, (byBound.get(le) ?? 0) + s.value);
  }
  return [...byBound].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
};

/**
 * What was observed between two scrapes: `after` less `before`, bound by bound. Undefined when a count
 * went down (the process restarted and its counters began again): that stretch is not known.
 */
export const bucketsBetween = (before: Buckets, after: Buckets): Buckets | undefined => {
  const earlier = new Map(before.map((b) => [b.le, b.count]));
  const delta = after.map((b) => ({ le: b.le, count: b.count - (earlier.get(b.le) ?? 0) }));
  return delta.some((b) => b.count < 0) ? undefined : delta;
};

/**
 * Prometheus's `histogram_quantile`: the bucket the q-th observation falls in, interpolated linearly
 * within it (from 0 for the first). One in the `+Inf` bucket is said as the highest finite bound: all
 * that is known of it. Undefined when nothing was observed.
 */
export const quantile = (q: number, histogram: Buckets): number | undefined => {
  const all = histogram.at(-1)?.count ?? 0;
  if (all <= 0) return undefined;
  const rank = q * all;
  let lower = 0;
  let below = 0;
  for (const { le, count } of histogram) {
    if (count >= rank) {
      if (le === Number.POSITIVE_INFINITY) return lower;
      return count === below ? le : lower + ((le - lower) * (rank - below)) / (count - below);
    }
    lower = le;
    below = count;
  }
  return lower;
};
