/**
 * Tracing: spans exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, none otherwise.
 *
 * Each thread has its own (as OpenTelemetry's own global provider is per thread): the edge's event loop
 * and the read side's thread start and stop theirs. The parts that make spans ask `tracing()` and do
 * nothing more when it is undefined, so tracing that is off costs one check per hook: the SDK is
 * loaded only when tracing is turned on (`otlp-tracing.ts`, imported dynamically), and no span or
 * context is made without it.
 *
 * Spans join across threads, processes and the broker through the W3C `traceparent` that events
 * carry in their metadata: a span is started with the `traceparent` of what caused it as its parent,
 * and the work it causes carries the span's own.
 */

import type { SpanStart, TraceSpan, Tracing, TracingSettings } from "./spans.ts";

export type { SpanAttributes, SpanKind, SpanStart, TraceSpan, Tracing, TracingSettings } from "./spans.ts";

let active: Tracing | undefined;
/** Services of one thread that asked for tracing and have not stopped: the last to stop ends it. */
let users = 0;
let starting: Promise<void> | undefined;

/** This thread's tracing, or undefined when it is off. */
export const tracing = (): Tracing | undefined => active;

/**
 * Turns tracing on for this thread when an endpoint is set. A second service in the same thread (tests
 * run several) shares the first one's; tracing ends when the last of them stops.
 */
export const startTracing = async (settings: TracingSettings): Promise<void> => {
  const { endpoint } = settings;
  if (endpoint === undefined) return;
  users += 1;
  starting ??= import("./otlp-tracing.ts").then(({ otlpTracing }) => {
    active = otlpTracing({ ...settings, endpoint });
  });
  await starting;
};

/** One service of this thread stops: exports what is left once it was the last. */
export const stopTracing = async (settings: Pick<TracingSettings, "endpoint">): Promise<void> => {
  if (settings.endpoint === undefined || users === 0) return;
  users -= 1;
  if (users > 0) return;
  await starting;
  const stopped = active;
  active = undefined;
  starting = undefined;
  await stopped?.shutdown();
};

/** Most links of one span (the SDK's default limit): a relay round may hold a thousand events. */
const MAX_LINKS = 128;

/**
 * A span for work done for many at once (a store's batch, a relay round): a child of the first of
 * them, linked to the others, so that each one's trace leads to it.
 */
export const startBatchSpan = (
  tracer: Tracing,
  name: string,
  causes: Iterable<string | undefined>,
  options: Omit<SpanStart, "parent" | "links"> = {},
): TraceSpan => {
  let parent: string | undefined;
  const links = new Set<string>();
  for (const cause of causes) {
    if (cause === undefined || cause === parent) continue;
    if (parent === undefined) parent = cause;
    else if (links.size < MAX_LINKS) links.add(cause);
  }
  return tracer.start(name, { ...options, parent, links: [...links] });
};
