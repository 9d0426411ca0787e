import type { BatchHandler, Verdict } from "../broker/broker.ts";
import { errorMessage } from "../lib/errors.ts";
import type { Upcast } from "../runtime/upcast.ts";
import type { EventEnvelope } from "../store/envelope.ts";
import type { EventStore } from "../store/event-store.ts";
import type { Projection } from "./projection.ts";

export interface WorkerHooks {
  readonly onApplied?: (count: number, last: EventEnvelope) => void;
  readonly onFailed?: (error: unknown, eventId: string) => void;
}

/**
 * Turns a projection into the broker's batch handler. A batch is applied in one go; if that fails,
 * its events are applied one at a time, in order, so that one poison event fails alone and the
 * others are not retried with it (re-applying the ones that did get through is harmless).
 */
export const projectionHandler = (
  projection: Projection,
  store: EventStore,
  hooks: WorkerHooks = {},
  upcast: Upcast = (event) => event,
): BatchHandler => {
  const context = { store };
  return async (batch) => {
    const events = batch.map((d) => upcast(d.event));
    try {
      await projection.apply(events, context);
      const last = events.at(-1);
      if (last) hooks.onApplied?.(events.length, last);
      return batch.map((): Verdict => ({ ok: true }));
    } catch (error) {
      if (events.length === 1) {
        hooks.onFailed?.(error, events[0]?.eventId ?? "");
        return [{ ok: false, error: errorMessage(error) }];
      }
      const verdicts: Verdict[] = [];
      for (const event of events) {
        try {
          await projection.apply([event], context);
          hooks.onApplied?.(1, event);
          verdicts.push({ ok: true });
        } catch (error) {
          hooks.onFailed?.(error, event.eventId);
          verdicts.push({ ok: false, error: errorMessage(error) });
        }
      }
      return verdicts;
    }
  };
};
