/**
 * The OpenTelemetry SDK behind `Tracing`: spans batched and exported over OTLP/HTTP as JSON. Imported
 * only when tracing is turned on (see `tracing.ts`), so that a service without it never loads the SDK.
 */
import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { parseTraceParent, setGlobalErrorHandler, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { errorMessage } from "../lib/errors.ts";
import type { SpanKind as Kind, SpanStart, TraceSpan, Tracing, TracingSettings } from "./spans.ts";

const kinds: Record<Kind, SpanKind> = {
  server: SpanKind.SERVER,
  internal: SpanKind.INTERNAL,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

/** An exporter that fails fails every few seconds: its errors are told this far apart at most. */
const ERROR_EVERY_MS = 60_000;

class OtlpSpan implements TraceSpan {
  private context: { traceparent?: string } | undefined;

  constructor(
    private readonly span: Span,
    private readonly propagator: W3CTraceContextPropagator,
  ) {}

  /** Made once, when first asked for: most spans' contexts go nowhere. */
  get traceparent(): string | undefined {
    if (this.context === undefined) {
      this.context = {};
      this.propagator.inject(trace.setSpan(ROOT_CONTEXT, this.span), this.context, defaultTextMapSetter);
    }
    return this.context.traceparent;
  }

  set(attributes: Readonly<Record<string, string | number | boolean>>): void {
    this.span.setAttributes(attributes);
  }

  end(failure?: unknown): void {
    if (failure !== undefined) {
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(failure) });
      if (failure instanceof Error) this.span.recordException(failure);
    }
    this.span.end();
  }
}

/**
 * The sampler the standard variables name (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`, read with
 * the other settings), which this version of the SDK no longer reads by itself: at full load every
 * request's spans would be more than an exporter takes. Default: every trace, or as its caller says.
 */
export const samplerFrom = (choice: TracingSettings["sampler"]): Sampler => {
  const share = new TraceIdRatioBasedSampler(choice?.ratio ?? 1);
  switch (choice?.kind) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return share;
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: share });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
};

export const otlpTracing = (settings: TracingSettings & { readonly endpoint: string }): Tracing => {
  // The service's name and role, then what OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES say.
  const resource = defaultResource()
    .merge(
      resourceFromAttributes({
        "service.name": "eventfold",
        "eventfold.role": settings.role,
        "eventfold.thread": settings.thread,
      }),
    )
    .merge(detectResources({ detectors: [envDetector] }));
  const exporter = new OTLPTraceExporter({ url: new URL("v1/traces", withSlash(settings.endpoint)).href });
  const provider = new TracerProvider({
    resource,
    sampler: samplerFrom(settings.sampler),
    spanProcessors: [new BatchSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer("eventfold");
  const propagator = new W3CTraceContextPropagator();
  const { onError } = settings;
  if (onError) {
    let toldAt = Number.NEGATIVE_INFINITY;
    setGlobalErrorHandler((error) => {
      const now = performance.now();
      if (now - toldAt < ERROR_EVERY_MS) return;
      toldAt = now;
      onError(error);
    });
  }
  const contextOf = (traceparent: string | undefined): Context =>
    traceparent === undefined
      ? ROOT_CONTEXT
      : propagator.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter);
  const linksOf = (traceparents: readonly string[] | undefined): Link[] => {
    const links: Link[] = [];
    for (const traceparent of traceparents ?? []) {
      const context = parseTraceParent(traceparent);
      if (context) links.push({ context });
    }
    return links;
  };
  return {
    start: (name: string, options: SpanStart = {}) =>
      new OtlpSpan(
        tracer.startSpan(
          name,
          {
            kind: kinds[options.kind ?? "internal"],
            attributes: options.attributes,
            links: linksOf(options.links),
          },
          contextOf(options.parent),
        ),
        propagator,
      ),
    shutdown: () => shutdownWithin(provider, onError),
  };
};

/**
 * The exporter retries a collector that does not answer for seconds, and a stop must stay within a
 * supervisor's grace period: what is not exported by then is dropped, and said.
 */
const STOP_WITHIN_MS = 2_000;

const shutdownWithin = async (provider: TracerProvider, onError: ((error: unknown) => void) | undefined) => {
  let timer: Timer | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onError?.(new Error(`the spans not exported within ${STOP_WITHIN_MS} ms of the stop were dropped`));
      resolve();
    }, STOP_WITHIN_MS);
  });
  try {
    // A collector that does not answer must not fail the service's stop.
    await Promise.race([provider.shutdown().catch((error: unknown) => onError?.(error)), late]);
  } finally {
    clearTimeout(timer);
  }
};

/** `new URL` drops the endpoint's last path segment unless it ends with a slash. */
const withSlash = (url: string) => (url.endsWith("/") ? url : `${url}/`);
