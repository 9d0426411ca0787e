import { idOfStream, type PersonalDataSpec } from "../aggregate.ts";
import { isRecord, sealFields } from "./personal-data.ts";

/**
 * How a store written before personal data was sealed gets it sealed, once, as it is migrated: each
 * stored event's personal fields, and the states kept with outcomes, rewritten sealed under their
 * subject's key, before the ledger's tree is built over them (the tree covers what is stored then, so
 * this is the one moment the log may still be rewritten). Snapshots are a cache: those of data
 * subjects are dropped instead, and made again from the sealed events.
 */
export interface LegacySealing {
  /** The data subjects the events of `aggregateType` belong to (the aggregates' ids). */
  readonly specs: Readonly<Record<string, PersonalDataSpec>>;
  /** Each subject's data key; a subject missing here is left as it is. */
  readonly keys: ReadonlyMap<string, Uint8Array>;
}

/** An event's data as stored (JSON text), sealed; undefined when it has nothing to seal. */
export const sealLegacyEvent = (
  sealing: LegacySealing,
  aggregateType: string,
  streamId: string,
  type: string,
  data: string,
): string | undefined => {
  const fields = sealing.specs[aggregateType]?.events[type];
  if (!fields?.length) return undefined;
  const subjectId = idOfStream(aggregateType, streamId);
  const key = sealing.keys.get(subjectId);
  const parsed: unknown = JSON.parse(data);
  if (!key || !isRecord(parsed)) return undefined;
  const sealed = sealFields(parsed, fields, subjectId, key);
  return sealed === parsed ? undefined : JSON.stringify(sealed);
};

/**
 * A stored outcome (JSON text) whose state holds personal fields of an aggregate, sealed under the
 * key of the aggregate it names (`id`): an outcome does not say its aggregate's type, so the state's
 * fields of every type with personal state are sealed where present.
 */
export const sealLegacyOutcome = (sealing: LegacySealing, outcome: string): string | undefined => {
  const parsed: unknown = JSON.parse(outcome);
  if (!isRecord(parsed) || !isRecord(parsed.state) || typeof parsed.id !== "string") return undefined;
  const key = sealing.keys.get(parsed.id);
  if (!key) return undefined;
  const fields = [...new Set(Object.values(sealing.specs).flatMap((spec) => spec.state ?? []))];
  const state = sealFields(parsed.state, fields, parsed.id, key);
  return state === parsed.state ? undefined : JSON.stringify({ ...parsed, state });
};
