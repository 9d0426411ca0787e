import type { SyncMessage } from "rabbitmq-client";
import type { EventEnvelope } from "../../store/envelope.ts";
import type { DeadLetter } from "../dead-letters.ts";

/** eventfold's own message headers. */
export const headers = {
  /** How many events the message holds. */
  count: "x-eventfold-count",
  attempt: "x-eventfold-attempt",
  error: "x-eventfold-error",
  deadLetteredAt: "x-eventfold-dead-lettered-at",
} as const;

type MessageHeaders = Record<string, unknown> | undefined;

/** Where a message that is not a first publish stands. */
export interface Tries {
  /** The try the message is for. */
  readonly attempt: number;
  /** Why the last try failed. */
  readonly error?: string;
  /** Set on the way to the dead-letter queue. */
  readonly deadLetteredAt?: string;
}

/**
 * The body and headers of a message holding `events`: how many, and, for a single event, which one
 * and its trace context (several events each carry theirs in their metadata). A first publish has no
 * attempt header: a message without one is on its first try.
 */
export const encode = (events: readonly EventEnvelope[], tries?: Tries) => {
  const only = events.length === 1 ? events[0] : undefined;
  return {
    body: Buffer.from(JSON.stringify(events)),
    headers: {
      [headers.count]: events.length,
      ...(only && {
        streamId: only.streamId,
        version: only.version,
        ...(only.metadata.traceparent ? { traceparent: only.metadata.traceparent } : {}),
      }),
      ...(tries && {
        [headers.attempt]: tries.attempt,
        ...(tries.error === undefined ? {} : { [headers.error]: tries.error }),
        ...(tries.deadLetteredAt === undefined ? {} : { [headers.deadLetteredAt]: tries.deadLetteredAt }),
      }),
    },
  };
};

/** A message holds one event, or (as published by the relay) several of one shard and aggregate type. */
export const decode = (body: unknown): EventEnvelope[] => {
  const parsed = (Buffer.isBuffer(body) ? JSON.parse(body.toString("utf8")) : body) as
    | EventEnvelope
    | EventEnvelope[];
  return Array.isArray(parsed) ? parsed : [parsed];
};

export const attemptOf = (h: MessageHeaders): number => Number(h?.[headers.attempt] ?? 1) || 1;

/** x-death's `time`: an AMQP timestamp, in seconds, that the client may hand over as a Date. */
const timeOfDeath = (time: unknown): string | null => {
  if (time instanceof Date) return time.toISOString();
  if (typeof time === "number") return new Date(time * 1000).toISOString();
  return null;
};

/** The events of a message taken from a dead-letter queue, each with the message's error and tries. */
export const decodeDeadLetters = (message: SyncMessage): DeadLetter[] => {
  const h = message.headers as MessageHeaders;
  const death = (h?.["x-death"] as { count?: number; time?: unknown }[] | undefined)?.[0];
  // A message RabbitMQ itself dead-lettered (delivery limit) carries x-death instead of our error.
  const error = String(
    h?.[headers.error] ?? (death ? "delivery limit reached: the consumer kept failing" : "unknown"),
  );
  const attempts = Number(h?.[headers.attempt] ?? death?.count ?? 0);
  const stamped = h?.[headers.deadLetteredAt];
  const deadLetteredAt = typeof stamped === "string" ? stamped : timeOfDeath(death?.time);
  return decode(message.body).map((event) => ({ event, error, attempts, deadLetteredAt }));
};
