/**
 * The contract between the engine and a domain module. An aggregate is plain data and pure functions:
 * the engine owns every side effect (loading, persisting, publishing, replying).
 */

/** Anything with a discriminating `type`: the shape of every command and event. */
export interface Message {
  readonly type: string;
}

/**
 * Why a command was refused: `code` is stable and machine-readable, `detail` is for people. Domains
 * refuse with `not_found` (no such aggregate) or `conflict` (a rule forbids it in this state); the
 * engine adds its own two, `precondition` (the aggregate is not at the expected version) and
 * `key_reused` (an idempotency key sent again with another request).
 */
export interface Rejection {
  readonly code: string;
  readonly detail: string;
  readonly kind: "conflict" | "not_found" | "precondition" | "key_reused";
}

/** What `decide` returns: the events to append (possibly none), or a refusal. */
export type Decision<E extends Message> = readonly E[] | Rejection;

/**
 * What `decide` gets besides the state and the command: everything else it may depend on, given by the
 * engine, so that it stays pure and a replay or a test decides the same.
 */
export interface DecideContext {
  /**
   * When the engine took the command, from its injected clock. Each event the command causes keeps it
   * as `metadata.issuedAt`; a command decided again (after a clash) sees the same instant.
   */
  readonly now: Date;
  /**
   * The state of another aggregate the command names in `dependsOn`, as read for this decision. The
   * append goes through only if that aggregate is still at the version read, atomically with it; if
   * it moved, the command is decided again on its new state. Asking for one not named is a bug: it throws.
   */
  stateOf<T>(aggregate: { readonly type: string; readonly initialState: T }, id: string): T;
}

/** Another aggregate a command's decision reads: its state comes in `DecideContext.stateOf`. */
export interface Dependency {
  readonly aggregate: AnyAggregate;
  readonly id: string;
  /**
   * What of it the rule reads. `state` (default): anything, so the append goes only if it has not moved
   * at all since. `creation`: only what is fixed once it exists (whether it does, what it was made
   * with: an account's currency), so the append goes unless it was created meanwhile; its later
   * changes do not send the command back.
   */
  readonly reads?: "state" | "creation";
}

export interface Aggregate<S, C extends Message, E extends Message> {
  /** The stream prefix and the `aggregateType` of every envelope, e.g. `account`. */
  readonly type: string;
  readonly initialState: S;
  /** Pure and synchronous: the same state, command and context always give the same decision. */
  decide(state: S, command: C, context: DecideContext): Decision<E>;
  /**
   * The other aggregates a command's rules read (an open account to credit, say): the engine loads
   * their state for `decide` and appends only if none of them moved meanwhile. Absent: none.
   */
  dependsOn?(command: C): readonly Dependency[];
  /** Pure and synchronous: folds one event into the state. */
  evolve(state: S, event: E): S;
  /** Bumped whenever `S` changes shape, so older snapshots are ignored instead of misread. */
  readonly snapshotVersion?: number;
  /**
   * The shape of this aggregate's events now, stamped on each new one as its `schemaVersion` (default
   * 1). Bumped when an event changes shape; `upcasters` say how the older shapes read.
   */
  readonly eventSchemaVersion?: number;
  /**
   * How events stored in older shapes read now: one step per event type and schema version. Every
   * read applies them (the actor's load, the queries, the relay and so the projections, the event
   * feed); stored events are never rewritten. A type with no step at a version reads unchanged.
   */
  readonly upcasters?: readonly Upcaster[];
  /** True once a process has nothing left to do; streams not yet final are resumed at start-up. */
  isFinal?(state: S): boolean;
  /**
   * Which fields of its events and state are personal data, each instance being its own data subject
   * (its id the subject's id): stored encrypted under the subject's key, and read as `[erased]` once
   * `POST /v1/admin/subjects/:subjectId/erase` destroyed it. Absent: none.
   */
  readonly personalData?: PersonalDataSpec;
}

/**
 * Which fields of an aggregate's events and state are personal data. Fields are top-level keys of an
 * event's data or of the state; they keep their names across schema versions (an upcaster sees them
 * already opened, or erased).
 */
export interface PersonalDataSpec {
  /** Per event type, the personal fields of its data. */
  readonly events: Readonly<Record<string, readonly string[]>>;
  /** The personal fields of the state, as snapshots and the outcomes kept under idempotency keys hold it. */
  readonly state?: readonly string[];
}

/**
 * One step of an event's history: an event of `type` stored at schema version `from` reads, at version
 * `from + 1`, as what `upcast` makes of its data (another type, for a rename). Pure, like `evolve`.
 */
export interface Upcaster {
  readonly type: string;
  readonly from: number;
  upcast(data: Readonly<Record<string, unknown>>): {
    readonly type: string;
    readonly data: Readonly<Record<string, unknown>>;
  };
}

/**
 * The version a snapshot of this aggregate is kept under: its state's shape and its events' shape
 * together, so a change of either leaves older snapshots unread (the stream is folded again). Events
 * at schema version 1 leave it the state's own version, as snapshots were kept before events changed.
 */
export const snapshotShape = (aggregate: {
  readonly snapshotVersion?: number;
  readonly eventSchemaVersion?: number;
}): number => (aggregate.snapshotVersion ?? 1) + ((aggregate.eventSchemaVersion ?? 1) - 1) * 1_000;

/**
 * An aggregate with its types erased, for registries and the runtime. Method parameters are bivariant,
 * so every `Aggregate<S, C, E>` fits here while each module keeps its precise types.
 */
export type AnyAggregate = Aggregate<unknown, Message, Message>;

export const isRejection = <E extends Message>(decision: Decision<E>): decision is Rejection =>
  !Array.isArray(decision);

export const reject = (kind: Rejection["kind"], code: string, detail: string): Rejection => ({
  kind,
  code,
  detail,
});

export const defineAggregate = <S, C extends Message, E extends Message>(
  aggregate: Aggregate<S, C, E>,
): Aggregate<S, C, E> => aggregate;

export const streamIdOf = (aggregateType: string, id: string): string => `${aggregateType}-${id}`;

/** The aggregate id inside a stream id made by `streamIdOf`. */
export const idOfStream = (aggregateType: string, streamId: string): string =>
  streamId.slice(aggregateType.length + 1);
