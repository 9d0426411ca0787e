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

export interface Aggregate<S, C extends Message, E extends Message> {
  /** The stream prefix and the `aggregateType` of every envelope, e.g. `account`. */
  readonly type: string;
  readonly initialState: S;
  /** Pure and synchronous: the same state and command always give the same decision. */
  decide(state: S, command: C): Decision<E>;
  /** Pure and synchronous: folds one event into the state. */
  evolve(state: S, event: E): S;
  /** Bumped whenever `S` changes shape, so older snapshots are ignored instead of misread. */
  readonly snapshotVersion?: number;
  /** Schema version stamped on each new event of this aggregate. */
  readonly eventSchemaVersion?: number;
  /** True once a process has nothing left to do; streams not yet final are resumed at start-up. */
  isFinal?(state: S): boolean;
}

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
