/**
 * An OTLP/HTTP trace receiver in the test's process: it takes `POST /v1/traces` in the OTLP JSON
 * encoding (what the service's exporter sends) and keeps every span, flattened with its resource.
 */

type AnyValue = {
  readonly stringValue?: string;
  readonly intValue?: number | string;
  readonly doubleValue?: number;
  readonly boolValue?: boolean;
};

interface KeyValue {
  readonly key: string;
  readonly value: AnyValue;
}

interface OtlpSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes?: readonly KeyValue[];
  readonly links?: readonly { readonly traceId: string; readonly spanId: string }[];
  readonly status?: { readonly code?: number; readonly message?: string };
}

interface ExportRequest {
  readonly resourceSpans?: readonly {
    readonly resource?: { readonly attributes?: readonly KeyValue[] };
    readonly scopeSpans?: readonly { readonly spans?: readonly OtlpSpan[] }[];
  }[];
}

export type Attributes = Readonly<Record<string, string | number | boolean | undefined>>;

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Undefined for the root of a trace. */
  readonly parentSpanId: string | undefined;
  readonly name: string;
  /** OTLP's numbers: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly attributes: Attributes;
  readonly links: readonly { readonly traceId: string; readonly spanId: string }[];
  /** 2 when failed. */
  readonly statusCode: number;
  readonly resource: Attributes;
}

export const spanKind = { internal: 1, server: 2, producer: 4, consumer: 5 } as const;

const plain = (value: AnyValue): string | number | boolean | undefined =>
  value.stringValue ??
  (value.intValue === undefined ? undefined : Number(value.intValue)) ??
  value.doubleValue ??
  value.boolValue;

const attributesOf = (list: readonly KeyValue[] | undefined): Attributes =>
  Object.fromEntries((list ?? []).map(({ key, value }) => [key, plain(value)]));

export interface OtlpReceiver {
  /** The base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it. */
  readonly url: string;
  readonly spans: readonly ReceivedSpan[];
  /** Export requests taken, whatever they held. */
  readonly requests: number;
  stop(): Promise<void>;
}

export const startOtlpReceiver = (): OtlpReceiver => {
  const spans: ReceivedSpan[] = [];
  let requests = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: async (request) => {
      requests += 1;
      if (request.method !== "POST" || new URL(request.url).pathname !== "/v1/traces") {
        return new Response("not found", { status: 404 });
      }
      if (!request.headers.get("content-type")?.startsWith("application/json")) {
        return new Response("only the JSON encoding", { status: 415 });
      }
      const body = (await request.json()) as ExportRequest;
      for (const { resource, scopeSpans } of body.resourceSpans ?? []) {
        const resourceAttributes = attributesOf(resource?.attributes);
        for (const scope of scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            spans.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId || undefined,
              name: span.name,
              kind: span.kind,
              attributes: attributesOf(span.attributes),
              links: (span.links ?? []).map(({ traceId, spanId }) => ({ traceId, spanId })),
              statusCode: span.status?.code ?? 0,
              resource: resourceAttributes,
            });
          }
        }
      }
      return Response.json({});
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    spans,
    get requests() {
      return requests;
    },
    stop: () => server.stop(true),
  };
};

/** A W3C `traceparent` of a client's own span, with fresh random ids. */
export const clientTraceparent = (): { traceId: string; spanId: string; header: string } => {
  const hex = (bytes: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceId, spanId, header: `00-${traceId}-${spanId}-01` };
};
