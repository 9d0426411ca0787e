import { idOfStream, type PersonalDataSpec } from "../aggregate.ts";
import { isRecord, sealFields, sealFingerprint } from "./personal-data.ts";

/**
 * How a store written before personal data was sealed gets it sealed, once, as it is migrated: each
 * stored event's personal fields, and the states and fingerprints kept with outcomes, rewritten sealed
 * under their subject's key, before the ledger's tree is built over them (the tree covers what is
 * stored then, so this is the one moment the log may still be rewritten). Snapshots are a cache: those
 * of data subjects are dropped instead, and made again from the sealed events.
 */
export interface LegacySealing {
  readonly specs: Readonly<Record<string, PersonalDataSpec>>;
  /** Each live subject's data key. */
  readonly keys: ReadonlyMap<string, Uint8Array>;
  /**
   * The subjects erased already (a backup from before the upgrade restored after an erasure): their
   * values are sealed as nothing, never left as they were.
   */
  readonly erased: ReadonlySet<string>;
}

/** The key to seal a subject's values with: undefined (sealed as nothing) for an erased one; null: leave. */
const keyOf = (sealing: LegacySealing, subjectId: string): Uint8Array | undefined | null =>
  sealing.keys.get(subjectId) ?? (sealing.erased.has(subjectId) ? undefined : null);

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
  const key = keyOf(sealing, subjectId);
  const parsed: unknown = JSON.parse(data);
  if (key === null || !isRecord(parsed)) return undefined;
  const sealed = sealFields(parsed, fields, subjectId, key);
  return sealed === parsed ? undefined : JSON.stringify(sealed);
};

/**
 * A stored outcome (JSON text) and its fingerprint, sealed under the key of the aggregate the outcome
 * names (`id`): an outcome does not say its aggregate's type, so the state's fields of every type with
 * personal state are sealed where present. Undefined when the outcome names no data subject.
 */
export const sealLegacyOutcome = (
  sealing: LegacySealing,
  outcome: string,
  fingerprint: string,
): { outcome: string; fingerprint: string } | undefined => {
  const parsed: unknown = JSON.parse(outcome);
  if (!isRecord(parsed) || typeof parsed.id !== "string") return undefined;
  const key = keyOf(sealing, parsed.id);
  if (key === null) return undefined;
  const fields = [...new Set(Object.values(sealing.specs).flatMap((spec) => spec.state ?? []))];
  const state = isRecord(parsed.state) ? sealFields(parsed.state, fields, parsed.id, key) : parsed.state;
  return {
    outcome: state === parsed.state ? outcome : JSON.stringify({ ...parsed, state }),
    fingerprint: sealFingerprint(fingerprint, parsed.id, key),
  };
};
