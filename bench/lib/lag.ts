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
