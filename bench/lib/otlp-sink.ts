/**
 * `--otel`: a local OTLP/HTTP collector that takes every export and keeps nothing, so that a run
 * measures what tracing costs the service (making, batching and sending spans), not a collector.
 */
export interface OtlpSink {
  /** The base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it. */
  readonly url: string;
  /** Exports taken and their bytes, so far. */
  taken(): { readonly requests: number; readonly bytes: number };
  stop(): Promise<void>;
}

export const startOtlpSink = (): OtlpSink => {
  let requests = 0;
  let bytes = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: async (request) => {
      requests += 1;
      bytes += (await request.arrayBuffer()).byteLength;
      // What a collector answers to an export it took whole (OTLP/HTTP, JSON encoding).
      return Response.json({});
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    taken: () => ({ requests, bytes }),
    stop: () => server.stop(true),
  };
};
