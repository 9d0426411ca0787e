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
  const appended = await parts.store.append({
    streamId: streamIdOf(SUBJECT_TYPE, subjectId),
    aggregateType: SUBJECT_TYPE,
    expectedVersion: 0,
    events: [
      {
        eventId: Bun.randomUUIDv7(),
        type: SUBJECT_ERASED,
        schemaVersion: 1,
        data: { ...record },
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
    throw new Error(`the erasure of ${subjectId} could not be recorded: ${appended.reason}`);
  for (const type of parts.personalData.subjectTypes) parts.actors.forget(streamIdOf(type, subjectId));
  parts.feed.forget();
  return record;
};
