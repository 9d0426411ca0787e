import { idOfStream } from "../aggregate.ts";
import type { EventEnvelope } from "../store/envelope.ts";

/**
 * Each erasure is recorded in the log itself, as one event of a stream of its own per subject: the
 * ledger covers it, consumers outside the service learn from it to drop their copies, and the
 * projections blank theirs when it reaches them (and again on a rebuild). It is not in the subject's
 * own streams, whose versions an erasure leaves as they were.
 */
export const SUBJECT_TYPE = "subject";
export const SUBJECT_ERASED = "SubjectErased";

/** The data subject an erasure event names; undefined for every other event. */
export const erasedSubjectOf = (
  event: Pick<EventEnvelope, "aggregateType" | "type" | "streamId">,
): string | undefined =>
  event.aggregateType === SUBJECT_TYPE && event.type === SUBJECT_ERASED
    ? idOfStream(SUBJECT_TYPE, event.streamId)
    : undefined;
