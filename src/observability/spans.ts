/**
 * What the engine asks of tracing (the port), apart from how it is done: `tracing.ts` hands out the
 * thread's, and `otlp-tracing.ts` is the one made with the OpenTelemetry SDK.
 */

export type SpanKind = "server" | "internal" | "producer" | "consumer";

export type SpanAttributes = Readonly<Record<string, string | number | boolean>>;

export interface SpanStart {
  readonly kind?: SpanKind;
  /** The W3C `traceparent` of what caused it; absent or malformed, it starts a trace. */
  readonly parent?: string;
  /** The `traceparent`s of other spans it serves too (a batch's other members). */
  readonly links?: readonly string[];
  readonly attributes?: SpanAttributes;
}

/** A span under way. */
export interface TraceSpan {
  /** Its context as a W3C `traceparent`: what the work it causes names as its parent. */
  readonly traceparent: string | undefined;
  /** Attributes known only as it goes (a status code, an outcome). */
  set(attributes: SpanAttributes): void;
  /** Ends it; with a failure, marked as failed, naming it. */
  end(failure?: unknown): void;
}

export interface Tracing {
  start(name: string, options?: SpanStart): TraceSpan;
  /** Exports what is left and stops. */
  shutdown(): Promise<void>;
}

export interface TracingSettings {
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`; undefined: tracing is off. */
  readonly endpoint: string | undefined;
  /** The service's role (`all`, `edge`, `projector`): a resource attribute of every span. */
  readonly role: string;
  /** The thread the spans come from (`main`, `read-side`): a resource attribute too. */
  readonly thread: string;
  /** `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` (default: every trace, or as its caller says). */
  readonly sampler?: { readonly kind: string; readonly ratio: number };
  /** Spans could not be exported (the collector does not answer): told at most once a minute. */
  readonly onError?: (error: unknown) => void;
}
