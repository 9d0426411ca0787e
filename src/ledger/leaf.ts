import type { EventEnvelope } from "../store/envelope.ts";

/** An event's stored fields, `data` and `metadata` as the JSON text the store keeps. */
export interface LeafFields {
  readonly eventId: string;
  readonly streamId: string;
  readonly aggregateType: string;
  readonly version: number;
  readonly type: string;
  readonly schemaVersion: number;
  /** ISO 8601 UTC, millisecond precision, as the envelope shows it. */
  readonly time: string;
  readonly data: string;
  readonly metadata: string;
}

const encoder = new TextEncoder();

/**
 * An event's canonical bytes, the tree's leaf: one line of JSON, its keys in this order, `data` and
 * `metadata` the stored JSON text (what `JSON.stringify` wrote at the append, so a store that keeps
 * documents, not text, gives the same bytes). The position is not in it: the leaf's index in the tree
 * is its place, so two events swapped show as reordered, not as two altered ones. What is stored is
 * what is hashed: personal data in it is ciphertext, and erasing its key changes no leaf.
 */
export const leafText = (e: LeafFields): string =>
  `{"eventId":${JSON.stringify(e.eventId)},"streamId":${JSON.stringify(e.streamId)},"aggregateType":${JSON.stringify(
    e.aggregateType,
  )},"version":${e.version},"type":${JSON.stringify(e.type)},"schemaVersion":${e.schemaVersion},"time":${JSON.stringify(
    e.time,
  )},"data":${e.data},"metadata":${e.metadata}}`;

export const leafBytes = (e: LeafFields): Uint8Array => encoder.encode(leafText(e));

/** The leaf of an event as read back (its data and metadata parsed), as stored. */
export const envelopeLeaf = (e: EventEnvelope): Uint8Array =>
  leafBytes({ ...e, data: JSON.stringify(e.data), metadata: JSON.stringify(e.metadata) });
