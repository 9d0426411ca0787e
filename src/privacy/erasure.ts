import { streamIdOf } from "../aggregate.ts";
import type { ActorSystem } from "../runtime/actor-system.ts";
import type { CommandMetadata } from "../runtime/command.ts";
import type { Store } from "../store/store.ts";
import type { EventFeed } from "../subscriptions/event-feed.ts";
import type { PersonalData } from "./personal-data.ts";
import type { ErasureRecord } from "./subject-keys.ts";
import { SUBJECT_ERASED, SUBJECT_TYPE } from "./subject-stream.ts";

export interface ErasureParts {
  readonly store: Store;
  readonly actors: ActorSystem;
  readonly feed: EventFeed;
  readonly personalData: PersonalData;
}

/**
 * Erases a data subject: its key is destroyed first (from then on every read finds its personal fields
 * erased), then the erasure is appended to the log (`SubjectErased`, once: a retry after a crash between
 * the two finds the key gone and appends it then), and what this process holds of the subject in
 * memory is dropped (its actors, the feed's recent events). The record kept the first time for a
 * subject erased before; undefined for one never seen.
 */
export const eraseSubject = async (
  parts: ErasureParts,
  subjectId: string,
  erasedBy: string,
  reason: string,
  metadata: CommandMetadata,
): Promise<ErasureRecord | undefined> => {
  const record = await parts.personalData.erase(subjectId, erasedBy, reason);
  if (!record) return undefined;
  await recordErasure(parts.store, record, metadata);
  forgetSubject(parts, subjectId);
  return record;
};

/** Drops what this process holds of a subject in memory: its actors, the feed's recent events, its key. */
export const forgetSubject = (parts: Omit<ErasureParts, "store">, subjectId: string): void => {
  for (const type of parts.personalData.subjectTypes) parts.actors.forget(streamIdOf(type, subjectId));
  parts.personalData.forget(subjectId);
  parts.feed.forget();
};

/**
 * Appends the erasure's event, once: refused as already there (another try, another process) is
 * done. Also what makes sure of it for an erasure whose key was destroyed but whose event was not
 * appended (a crash between the two, a store that refused the append).
 */
export const recordErasure = async (
  store: Pick<Store, "append">,
  record: ErasureRecord,
  metadata: CommandMetadata,
): Promise<void> => {
  const appended = await store.append({
    streamId: streamIdOf(SUBJECT_TYPE, record.subjectId),
    aggregateType: SUBJECT_TYPE,
    expectedVersion: 0,
    events: [
      {
        eventId: Bun.randomUUIDv7(),
        type: SUBJECT_ERASED,
        schemaVersion: 1,
        // Who and when; not why: a reason is free text, which may itself name the person, and the log
        // keeps what it holds for good. The reason stays with the key store's record.
        data: { subjectId: record.subjectId, erasedAt: record.erasedAt, erasedBy: record.erasedBy },
        metadata: {
          commandId: metadata.commandId,
          correlationId: metadata.correlationId,
          causationId: metadata.causationId,
          ...(metadata.traceparent ? { traceparent: metadata.traceparent } : {}),
        },
      },
    ],
    final: true,
  });
  // Refused only as already there: the erasure was recorded by an earlier try.
  if (!appended.ok && appended.reason !== "version_conflict")
    throw new Error(`the erasure of ${record.subjectId} could not be recorded: ${appended.reason}`);
};
