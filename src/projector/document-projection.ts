import { idOfStream } from "../aggregate.ts";
import type { HotLookup, VersionedWrite } from "../hot-lookup/hot-lookup.ts";
import type { EventEnvelope } from "../store/envelope.ts";
import type { Projection } from "./projection.ts";

export interface DocumentProjectionSpec {
  readonly name: string;
  readonly aggregateType: string;
  readonly hot: HotLookup;
  /** Every key this projection writes starts with it (so a rebuild can clear them). */
  readonly keyPrefix: string;
  /** The document fields an event sets; an event that sets none still moves the version. */
  readonly fieldsOf: (event: EventEnvelope) => Record<string, string>;
}

/**
 * A projection that keeps one hot document per aggregate, at the aggregate's version. The hot lookup
 * applies a write only on top of the version before it, so a duplicate changes nothing and a gap is
 * reported; the missing events are then read from the event store and applied first.
 */
export const documentProjection = (spec: DocumentProjectionSpec): Projection => {
  const { hot, keyPrefix, fieldsOf } = spec;
  const keyOf = (event: EventEnvelope) => keyPrefix + idOfStream(spec.aggregateType, event.streamId);
  const writeOf = (event: EventEnvelope): VersionedWrite => ({
    key: keyOf(event),
    version: event.version,
    fields: fieldsOf(event),
  });

  return {
    name: spec.name,
    aggregateTypes: [spec.aggregateType],
    async apply(events, { store }) {
      const ours = events.filter((e) => e.aggregateType === spec.aggregateType);
      const results = await hot.applyMany(ours.map(writeOf));
      const gaps = new Map<string, { current: number; upTo: number }>();
      for (const [i, result] of results.entries()) {
        const event = ours[i];
        if (result.status !== "gap" || !event) continue;
        const gap = gaps.get(event.streamId);
        gaps.set(event.streamId, {
          current: gap?.current ?? result.current,
          upTo: Math.max(gap?.upTo ?? 0, event.version),
        });
      }
      for (const [streamId, { current, upTo }] of gaps) {
        const missing = await store.readStream(streamId, { after: current, upTo });
        const filled = await hot.applyMany(missing.map(writeOf));
        const stillMissing = filled.find((r) => r.status === "gap");
        if (stillMissing || missing.at(-1)?.version !== upTo) {
          throw new Error(`${streamId}: cannot fill the gap after version ${current} from the event store`);
        }
      }
    },
    reset: () => hot.clear(keyPrefix),
    ping: () => hot.ping(),
    ...(hot.volatile ? { volatile: true } : {}),
  };
};
