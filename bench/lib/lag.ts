/**
 * Projection lag as a client sees it: a deposit on a probe account, then the time from its 2xx until
 * `GET /v1/accounts/:id?minVersion=v` answers (the server polls Redis or the map every few ms).
 */
export const probeRedisLag = (url: string, accountId: string, everyMs = 100) => {
  const lags: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      try {
        const deposit = await fetch(`${url}/v1/accounts/${accountId}/deposits`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"amount":1}',
        });
        const { version } = (await deposit.json()) as { version: number };
        const acknowledged = performance.now();
        const read = await fetch(`${url}/v1/accounts/${accountId}?minVersion=${version}`);
        await read.arrayBuffer();
        if (read.ok) lags.push(performance.now() - acknowledged);
      } catch {
        // counted by the load run's errors
      }
      await Bun.sleep(Math.max(0, everyMs - (performance.now() - started)));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return lags;
    },
  };
};

export const percentile = (values: readonly number[], p: number): number | null => {
  if (values.length === 0) return null;
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? null;
};

/** Bucket counts of a Prometheus histogram (cumulative), for one label set. */
export const histogramBuckets = (metrics: string, name: string, labels: string): Map<number, number> => {
  const buckets = new Map<number, number>();
  const pattern = new RegExp(`^${name}_bucket\\{(.*)\\} (\\S+)$`);
  for (const line of metrics.split("\n")) {
    const m = pattern.exec(line);
    if (!m?.[1]?.includes(labels)) continue;
    const le = /le="([^"]+)"/.exec(m[1])?.[1];
    if (le) buckets.set(le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), Number(m[2]));
  }
  return buckets;
};

/** The quantile of what a histogram observed between two scrapes, interpolated within its bucket. */
export const quantileBetween = (
  before: Map<number, number>,
  after: Map<number, number>,
  q: number,
): number | null => {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const total = counts.at(-1) ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [i, le] of bounds.entries()) {
    const count = counts[i] ?? 0;
    if (count >= rank) {
      if (!Number.isFinite(le)) return lower;
      return lower + ((le - lower) * (rank - below)) / Math.max(1, count - below);
    }
    lower = le;
    below = count;
  }
  return lower;
};
