/** Who caused an event, and why: carried from the HTTP request into every event and message header. */
export interface EventMetadata {
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly idempotencyKey?: string;
  /** W3C trace context of the request that caused the event. */
  readonly traceparent?: string;
  /** When the engine took the command that caused it: the `now` its decision saw. Absent on older events. */
  readonly issuedAt?: string;
}

/** An event as the store keeps it. */
export interface EventEnvelope<D = unknown> {
  readonly eventId: string;
  readonly streamId: string;
  readonly aggregateType: string;
  readonly type: string;
  /** 1-based number of the event in its stream. */
  readonly version: number;
  readonly schemaVersion: number;
  /** ISO 8601, millisecond precision. */
  readonly time: string;
  readonly data: D;
  readonly metadata: EventMetadata;
  /** Global, gap-free commit order; the relay's cursor. */
  readonly position: number;
  /** The personal fields of `data` that read `[erased]`, their subject having been erased; absent otherwise. */
  readonly erased?: readonly string[];
}

/** An event about to be appended: the store assigns version, position and time. */
export interface NewEvent {
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly data: unknown;
  readonly metadata: EventMetadata;
}
