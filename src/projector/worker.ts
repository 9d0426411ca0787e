import type { BatchHandler, Delivery, Verdict } from "../broker/broker.ts";
import { errorMessage } from "../lib/errors.ts";
import { type TraceSpan, type Tracing, tracing } from "../observability/tracing.ts";
import type { Upcast } from "../runtime/upcast.ts";
import type { EventEnvelope } from "../store/envelope.ts";
import type { EventStore } from "../store/event-store.ts";
import type { Projection } from "./projection.ts";

/** Opens events' personal data (or erases it), as every read of the store does. */
export type Open = (events: EventEnvelope[]) => Promise<EventEnvelope[]>;

export interface WorkerHooks {
  /** `newest`: the applied event of the highest position (a batch is in delivery order, not by position). */
  readonly onApplied?: (count: number, newest: EventEnvelope) => void;
  readonly onFailed?: (error: unknown, eventId: string) => void;
}

/**
 * Turns a projection into the broker's batch handler. A batch is applied in one go; if that fails,
 * its events are applied one at a time, in order, so that one poison event fails alone and the
 * others are not retried with it (re-applying the ones that did get through is harmless). While
 * tracing is on, the batch is applied under a span per trace its events belong to (see `traced`).
 */
export const projectionHandler = (
  projection: Projection,
  store: EventStore,
  hooks: WorkerHooks = {},
  upcast: Upcast = (event) => event,
  open?: Open,
): BatchHandler => {
  const context = { store };
  /** Opened as the store's own reads are: before the upcasters, which see personal data opened. */
  const read = async (published: EventEnvelope[]) => (open ? await open(published) : published).map(upcast);
  const handle: BatchHandler = async (batch) => {
    const published = batch.map((d) => d.event);
    try {
      const events = await read(published);
      await projection.apply(events, context);
      const newest = newestOf(events);
      if (newest) hooks.onApplied?.(events.length, newest);
      return batch.map((): Verdict => ({ ok: true }));
    } catch (error) {
      if (published.length === 1) {
        hooks.onFailed?.(error, published[0]?.eventId ?? "");
        return [{ ok: false, error: errorMessage(error) }];
      }
      // One at a time, each opened again on its own: an event that cannot be opened (or applied) fails
      // alone, and the others are not retried with it.
      const verdicts: Verdict[] = [];
      for (const one of published) {
        try {
          const [event] = await read([one]);
          if (!event) throw new Error(`${one.eventId} did not read back`);
          await projection.apply([event], context);
          hooks.onApplied?.(1, event);
          verdicts.push({ ok: true });
        } catch (error) {
          hooks.onFailed?.(error, one.eventId);
          verdicts.push({ ok: false, error: errorMessage(error) });
        }
      }
      return verdicts;
    }
  };
  return (batch) => {
    const tracer = tracing();
    return tracer ? traced(tracer, projection.name, batch, handle) : handle(batch);
  };
};

/**
 * Applies a batch under one span per trace among its events, each a child of the context its events
 * carry (`metadata.traceparent`: the command that caused them), so that the projection's work shows
 * in the trace of the request that caused it, whichever broker carried the events. An event that
 * carries no context (written before tracing was on) gets none.
 */
const traced = async (
  tracer: Tracing,
  projection: string,
  batch: readonly Delivery[],
  handle: BatchHandler,
): Promise<readonly Verdict[]> => {
  const byTrace = new Map<string, { readonly indexes: number[]; attempt: number }>();
  for (const [i, { event, attempt }] of batch.entries()) {
    const traceparent = event.metadata.traceparent;
    if (traceparent === undefined) continue;
    const trace = byTrace.get(traceparent);
    if (trace) {
      trace.indexes.push(i);
      trace.attempt = Math.max(trace.attempt, attempt);
    } else byTrace.set(traceparent, { indexes: [i], attempt });
  }
  const spans: { readonly span: TraceSpan; readonly indexes: readonly number[] }[] = [];
  for (const [traceparent, { indexes, attempt }] of byTrace) {
    const span = tracer.start(`apply ${projection}`, {
      kind: "consumer",
      parent: traceparent,
      attributes: {
        "eventfold.projection": projection,
        "eventfold.events": indexes.length,
        "messaging.batch.message_count": batch.length,
        "eventfold.attempt": attempt,
      },
    });
    spans.push({ span, indexes });
  }
  let verdicts: readonly Verdict[];
  try {
    verdicts = await handle(batch);
  } catch (error) {
    for (const { span } of spans) span.end(error);
    throw error;
  }
  for (const { span, indexes } of spans) {
    const failed = indexes.map((i) => verdicts[i]).find((verdict) => verdict?.ok === false);
    span.end(failed && !failed.ok ? failed.error : undefined);
  }
  return verdicts;
};

/**
 * The event of the highest position: deliveries of several shards interleave, so a batch's last event
 * may be older than others in it, and a projection's position read from it would stay behind for good.
 */
const newestOf = (events: readonly EventEnvelope[]): EventEnvelope | undefined => {
  let newest = events[0];
  for (const event of events) if (newest && event.position > newest.position) newest = event;
  return newest;
};
