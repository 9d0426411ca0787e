import { startBatchSpan, type Tracing } from "../observability/tracing.ts";
import type { AppendRequest } from "./event-store.ts";

/**
 * One durable round trip of a store's group commit, under a span when it writes events: a child of
 * the first command whose events it holds (their metadata carry the command's context), linked to
 * the others. A round trip of checkpoints and leases only has none: it belongs to no request.
 */
export const tracedWrite = async <R>(
  tracer: Tracing,
  store: string,
  appends: readonly AppendRequest[],
  writes: number,
  write: () => Promise<R>,
): Promise<R> => {
  let events = 0;
  for (const append of appends) events += append.events.length;
  if (events === 0) return write();
  const span = startBatchSpan(
    tracer,
    "store append",
    appends.map((append) => append.events[0]?.metadata.traceparent),
    {
      attributes: {
        "db.system.name": store,
        "eventfold.store.appends": appends.length,
        "eventfold.store.events": events,
        "eventfold.store.writes": writes,
      },
    },
  );
  try {
    const written = await write();
    span.end();
    return written;
  } catch (error) {
    span.end(error);
    throw error;
  }
};
