/** Samples a monotonically growing counter once a second and turns it into a per-second rate series. */
export interface RateSeries {
  readonly label: string;
  /** Requests per second, one point per second from the start. */
  readonly points: number[];
}

export const sampleRate = (label: string, read: () => Promise<number>) => {
  const points: number[] = [];
  let previous: number | undefined;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      const value = await read().catch(() => previous ?? 0);
      if (previous !== undefined) points.push(Math.max(0, value - previous));
      previous = value;
      await Bun.sleep(Math.max(0, 1000 - (performance.now() - started)));
    }
  })();
  return {
    stop: async (): Promise<RateSeries> => {
      stopped = true;
      await loop;
      return { label, points };
    },
  };
};

/** Sum of every sample of a Prometheus counter family in a /metrics text. */
export const counterTotal = (metrics: string, name: string): number => {
  let total = 0;
  for (const line of metrics.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.split(" ").at(-1));
  }
  return total;
};

/** A server's /metrics text. */
export const metricsOf = async (url: string): Promise<string> => (await fetch(`${url}/metrics`)).text();
