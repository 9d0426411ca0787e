/**
 * The answers of the API the console reads, as far as it reads them (the OpenAPI document at
 * `GET /openapi.json` has them whole). Fields the console can do without are optional, so that a page
 * served by a newer or older process still shows what it can.
 */

export interface Problem {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly detail?: string;
  readonly code?: string;
}

export interface RebuildProgress {
  readonly done: number;
  readonly total: number;
  readonly startedAt: string;
  readonly rate?: number;
  readonly expectedEnd?: string;
  readonly generation?: number;
  readonly reason: string;
  readonly finishedAt?: string;
  readonly error?: string;
}

export interface ProjectionStatus {
  readonly name: string;
  /** `running`, `paused`, `rebuilding` (or `stopped`, while the projector stops). */
  readonly state: string;
  readonly paused?: boolean;
  readonly position: number;
  readonly lag: number;
  readonly queued: number;
  readonly deadLettered: number;
  readonly generation?: number;
  readonly rebuild?: RebuildProgress;
}

export interface ProjectionList {
  readonly projections: readonly ProjectionStatus[];
}

export interface Envelope {
  readonly eventId: string;
  readonly streamId: string;
  readonly aggregateType: string;
  readonly type: string;
  readonly version: number;
  readonly schemaVersion: number;
  readonly time: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly position: number;
}

export interface DeadLetter {
  readonly event: Envelope;
  readonly error: string;
  readonly attempts: number;
  readonly deadLetteredAt: string | null;
}

export interface DeadLetterList {
  readonly deadLetters: Readonly<Record<string, readonly DeadLetter[]>>;
}

export interface EventsPage {
  readonly events: readonly Envelope[];
  /** The `after` of the next page; null when this one is the last. */
  readonly next: number | null;
}

/** An account's or a transfer's state as read: its fields, and the version it is at. */
export type StateView = Readonly<Record<string, unknown>> & { readonly version: number };
