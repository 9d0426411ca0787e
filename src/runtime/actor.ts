import {
  type AnyAggregate,
  type DecideContext,
  type Dependency,
  isRejection,
  type Message,
  type Rejection,
  snapshotShape,
  streamIdOf,
} from "../aggregate.ts";
import { outsideRequests } from "../observability/log.ts";
import type { StageObserver } from "../observability/stages.ts";
import { type TraceSpan, type Tracing, tracing } from "../observability/tracing.ts";
import type { NewEvent } from "../store/envelope.ts";
import { AppendTooLargeError, type EventStore, type StreamVersion } from "../store/event-store.ts";
import type { OutcomeStore, StoredOutcome } from "../store/outcome-store.ts";
import type { SnapshotStore } from "../store/snapshot-store.ts";
import { type CommandRequest, type CommandResult, fromStored, type Outcome, rejected } from "./command.ts";
import { ContentionError, MailboxFullError } from "./errors.ts";
import { loadLatest } from "./fold.ts";

/** What an actor keeps: its events, its snapshots, and the outcomes under its commands' keys. */
export type ActorStore = EventStore & SnapshotStore & OutcomeStore;

export interface ActorOptions {
  readonly mailboxCapacity: number;
  /** Most commands decided together and appended as one atomic write. */
  readonly maxBatch: number;
  /** Save a snapshot each time the version crosses a multiple of this. */
  readonly snapshotEvery: number;
  /** Reload-and-retry rounds after optimistic-concurrency clashes before giving up. */
  readonly maxAttempts: number;
  readonly onSnapshotError?: (error: unknown) => void;
  /**
   * Another writer got there first, to this stream or to one its commands depend on (the one named):
   * the actor decides again on what the store holds now.
   */
  readonly onConflict?: (streamId: string) => void;
  /** Told when the actor has answered every command sent to it and has nothing left to do. */
  readonly onIdle?: (actor: Actor) => void;
  /** Told how long each command waited in the mailbox (`mailbox`) and how long its batch took to decide. */
  readonly onStage?: StageObserver;
  /** The time each command is stamped with as it is sent (`metadata.issuedAt`), unless it has one. */
  readonly clock?: () => Date;
  /**
   * Another aggregate as this process holds it (its actor's last durable state), for the rules that
   * read it (`Aggregate.dependsOn`). Absent, or once an append found it moved: read from the store.
   */
  readonly readDependency?: (
    aggregate: AnyAggregate,
    id: string,
  ) => Promise<{ state: unknown; version: number }>;
}

/**
 * The aggregates a batch's commands depend on, as read for this round of decisions, by stream id:
 * their state, the version read, and whether the append must find them still there (`guarded`).
 */
type Dependencies = ReadonlyMap<
  string,
  { readonly state: unknown; readonly version: number; readonly guarded: boolean }
>;

interface Job {
  readonly request: CommandRequest<Message>;
  readonly resolve: (result: CommandResult) => void;
  readonly reject: (error: unknown) => void;
  /** Set when an earlier outcome may be stored under this job's key: look it up before deciding. */
  lookUp: boolean;
  /** Set once the job's caller has its answer. */
  answered: boolean;
  /** When it was sent (`performance.now()`). */
  readonly sentAt: number;
  /** When the engine took it (ISO 8601): its `metadata.issuedAt`, or the clock's time as it was sent. */
  readonly issuedAt: string;
  /** Its span while tracing is on: from its sending to its answer; its events carry its context. */
  readonly span: TraceSpan | undefined;
}

export interface ActorView {
  readonly state: unknown;
  readonly version: number;
  readonly updatedAt: string | undefined;
}

/**
 * The single writer of one aggregate. Commands wait in a bounded mailbox and are decided one at a time,
 * in arrival order, against the in-memory state. Commands that are waiting together are appended as one
 * atomic write (so a hot aggregate needs one durable round trip per batch, not per command); their
 * callers are answered only once that write is durable. A version clash means another process wrote
 * the stream: the actor reloads and decides the same commands again.
 */
export class Actor {
  private state: unknown;
  private version = 0;
  private updatedAt: string | undefined;
  private loading: Promise<void> | undefined;
  private readonly mailbox: Job[] = [];
  private running = false;
  lastUsed = Date.now();

  constructor(
    readonly aggregate: AnyAggregate,
    /** The aggregate's id: outcomes name it. */
    readonly id: string,
    readonly streamId: string,
    private readonly store: ActorStore,
    private readonly options: ActorOptions,
  ) {
    this.state = aggregate.initialState;
  }

  get idle(): boolean {
    return !this.running && this.mailbox.length === 0;
  }

  /** Whether its aggregate has events, as far as it knows (false until loaded). */
  get exists(): boolean {
    return this.version > 0;
  }

  get queued(): number {
    return this.mailbox.length;
  }

  send(request: CommandRequest<Message>): Promise<CommandResult> {
    if (this.mailbox.length >= this.options.mailboxCapacity) {
      return Promise.reject(new MailboxFullError(`mailbox of ${this.streamId} is full`));
    }
    this.lastUsed = Date.now();
    const issuedAt = issuedAtOf(request.metadata.issuedAt, this.options.clock);
    const tracer = tracing();
    const span = tracer ? this.commandSpan(tracer, request) : undefined;
    return new Promise((resolve, reject) => {
      const answering =
        <T>(settle: (value: T) => void, endSpan: (span: TraceSpan, value: T) => void) =>
        (value: T) => {
          job.answered = true;
          if (span) endSpan(span, value);
          settle(value);
        };
      const job: Job = {
        request,
        resolve: answering(resolve, endCommandSpan),
        reject: answering(reject, (failed, error) => failed.end(error)),
        lookUp: false,
        answered: false,
        sentAt: performance.now(),
        issuedAt,
        span,
      };
      this.mailbox.push(job);
      // The loop serves whichever commands come while it runs: its lines are not this request's.
      if (!this.running) outsideRequests(() => void this.run());
    });
  }

  /** The last durable state; loads it on first use. */
  async view(): Promise<ActorView> {
    this.lastUsed = Date.now();
    await this.ensureLoaded();
    return { state: this.state, version: this.version, updatedAt: this.updatedAt };
  }

  private ensureLoaded(): Promise<void> {
    this.loading ??= this.load().catch((error) => {
      this.loading = undefined;
      throw error;
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    const { aggregate, store, streamId } = this;
    const [latest, info] = await Promise.all([
      loadLatest(store, aggregate, streamId),
      store.streamInfo(streamId),
    ]);
    this.state = latest.state;
    this.version = latest.version;
    this.updatedAt = info?.updatedAt;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.mailbox.length > 0) {
        const jobs = this.mailbox.splice(0, this.options.maxBatch);
        const { onStage } = this.options;
        if (onStage) {
          const now = performance.now();
          for (const job of jobs) onStage("mailbox", now - job.sentAt);
        }
        await this.process(jobs).catch((error) => {
          // The store failed: what it holds is unknown, so forget the in-memory state.
          this.loading = undefined;
          for (const job of jobs) job.reject(error);
        });
      }
    } finally {
      this.running = false;
      this.lastUsed = Date.now();
    }
    if (this.mailbox.length === 0) this.options.onIdle?.(this);
  }

  private async process(jobs: Job[]): Promise<void> {
    let pending = jobs;
    /** Aggregates the jobs depend on that were found moved: from now on read from the store. */
    const moved = new Set<string>();
    // Only lost races count: a key seen twice in a batch or already stored is not contention.
    for (let clashes = 0; pending.length > 0; ) {
      if (clashes >= this.options.maxAttempts) {
        const error = new ContentionError(
          `${this.streamId}: decided ${this.options.maxAttempts} times, and each time another writer (of it, or of an aggregate it depends on) was first`,
        );
        for (const job of pending) job.reject(error);
        return;
      }
      await this.ensureLoaded();
      // A job whose caller has its answer is never decided again (a half of a split batch).
      pending = pending.filter((job) => !job.answered);
      pending = await this.answerStored(pending);
      let round: { retry: Job[]; clashed: boolean };
      try {
        round = await this.attempt(pending, moved);
      } catch (error) {
        const unanswered = pending.filter((job) => !job.answered);
        if (!(error instanceof AppendTooLargeError) || unanswered.length < 2) throw error;
        // Nothing was written: the store takes fewer commands' events at once. Each half goes on its
        // own, in order, so only a command too large by itself is refused.
        const half = Math.ceil(unanswered.length / 2);
        for (const part of [unanswered.slice(0, half), unanswered.slice(half)]) {
          await this.process(part).catch((failure) => {
            if (!(failure instanceof AppendTooLargeError)) throw failure;
            for (const job of part) job.reject(failure);
          });
        }
        return;
      }
      pending = round.retry;
      if (round.clashed) clashes += 1;
    }
  }

  /** Answers the jobs marked for a look-up whose key holds an outcome already; returns the rest. */
  private async answerStored(jobs: Job[]): Promise<Job[]> {
    const stored = await Promise.all(
      jobs.map((job) => {
        const idem = job.request.idempotency;
        const lookUp = job.lookUp && idem !== undefined;
        job.lookUp = false;
        return lookUp ? this.store.findOutcome(idem.key) : undefined;
      }),
    );
    const rest: Job[] = [];
    for (const [i, job] of jobs.entries()) {
      const found = stored[i];
      const idem = job.request.idempotency;
      if (found && idem) job.resolve(fromStored(found, idem.fingerprint));
      else rest.push(job);
    }
    return rest;
  }

  /**
   * Decides every job against the current state and appends the result, outcomes included, as one
   * version-checked write; returns the jobs to decide again and whether another writer got there first.
   * A batch that appends no events still writes its outcomes through the same check: a refusal decided
   * on a state another process has moved past is decided again, not kept for good.
   */
  private async attempt(jobs: Job[], moved: Set<string>): Promise<{ retry: Job[]; clashed: boolean }> {
    const { aggregate } = this;
    const wanted = aggregate.dependsOn ? this.dependenciesOf(jobs) : undefined;
    // Most batches depend on nothing (an account's deposits): they go on without waiting for a read.
    const dependencies = wanted?.size ? await this.readDependencies(wanted, moved) : undefined;
    let state = this.state;
    let version = this.version;
    const events: NewEvent[] = [];
    const outcomes: StoredOutcome[] = [];
    const decided: { job: Job; outcome: Outcome }[] = [];
    const deferred: Job[] = [];
    const keys = new Set<string>();
    const deciding = performance.now();

    for (const job of jobs) {
      const { request } = job;
      const idem = request.idempotency;
      if (idem && keys.has(idem.key)) {
        // Same key twice in one batch: the second must see the first one's stored outcome.
        job.lookUp = true;
        deferred.push(job);
        continue;
      }
      let outcome: Outcome;
      if (request.expectedVersion !== undefined && request.expectedVersion !== version) {
        outcome = rejected(preconditionFailed(request.expectedVersion, version));
      } else {
        const decision = aggregate.decide(state, request.command, this.contextOf(job, dependencies));
        if (isRejection(decision)) {
          outcome = rejected(decision);
        } else {
          for (const event of decision) {
            state = aggregate.evolve(state, event);
            version += 1;
            events.push(this.toNewEvent(event, job));
          }
          outcome = { kind: "accepted", id: this.id, version, state };
        }
      }
      if (idem && (outcome.kind === "accepted" || idem.keepRefusal !== false)) {
        keys.add(idem.key);
        outcomes.push({ key: idem.key, fingerprint: idem.fingerprint, outcome });
      }
      decided.push({ job, outcome });
    }
    this.options.onStage?.("decide", performance.now() - deciding, decided.length);

    if (events.length === 0) {
      // Nothing appended: a key may hold an outcome stored before this process saw its effect (a
      // process step retried after a crash that came just after it was applied). Asked first, so
      // the step gets that outcome instead of being refused by its own effect.
      for (const { job } of decided) job.lookUp = job.request.idempotency !== undefined;
      const fresh = new Set(await this.answerStored(decided.map(({ job }) => job)));
      const left = decided.filter(({ job }) => fresh.has(job));
      const leftKeys = new Set(left.map(({ job }) => job.request.idempotency?.key));
      const toStore = outcomes.filter((o) => leftKeys.has(o.key));
      if (toStore.length === 0) {
        // Nothing to write, so no append to check what they were decided on: checked here instead.
        const elsewhere = dependencies && (await this.movedOf(dependencies));
        if (elsewhere) {
          moved.add(elsewhere);
          return { retry: [...left.map(({ job }) => job), ...deferred], clashed: true };
        }
        for (const { job, outcome } of left) job.resolve({ ...outcome, replayed: false });
        return { retry: deferred, clashed: false };
      }
      return this.commit(left, [], toStore, state, deferred, dependencies, moved);
    }
    return this.commit(decided, events, outcomes, state, deferred, dependencies, moved);
  }

  /** The other aggregates the jobs' commands depend on, by stream id. */
  private dependenciesOf(jobs: readonly Job[]): Map<string, Dependency> {
    const wanted = new Map<string, Dependency>();
    for (const job of jobs) {
      for (const dependency of this.aggregate.dependsOn?.(job.request.command) ?? []) {
        const streamId = streamIdOf(dependency.aggregate.type, dependency.id);
        // Its own stream is guarded by the append's expected version already.
        if (streamId !== this.streamId) wanted.set(streamId, dependency);
      }
    }
    return wanted;
  }

  /**
   * Reads, at once, every other aggregate the jobs' commands depend on: as this process holds it, or
   * from the store once an append found it moved (what this process holds may be old: its actor may
   * live on another edge). The append's check, not this read, is what makes the rule hold.
   */
  private async readDependencies(
    wanted: ReadonlyMap<string, Dependency>,
    moved: ReadonlySet<string>,
  ): Promise<Dependencies> {
    const held = this.options.readDependency;
    const read = [...wanted].map(async ([streamId, dependency]) => {
      const { state, version } =
        held && !moved.has(streamId)
          ? await held(dependency.aggregate, dependency.id)
          : await loadLatest(this.store, dependency.aggregate, streamId);
      // What is read of it is fixed once it exists: only its creation could change the decision.
      const guarded = dependency.reads !== "creation" || version === 0;
      return [streamId, { state, version, guarded }] as const;
    });
    return new Map(await Promise.all(read));
  }

  /** The first guarded dependency no longer where it was read, if any (for a decision that appends nothing). */
  private async movedOf(dependencies: Dependencies): Promise<string | undefined> {
    for (const [streamId, { version, guarded }] of dependencies) {
      if (guarded && ((await this.store.streamInfo(streamId))?.version ?? 0) !== version) return streamId;
    }
    return undefined;
  }

  private contextOf({ request, issuedAt }: Job, dependencies: Dependencies | undefined): DecideContext {
    return {
      // Made only when read: most rules never look at the time.
      get now() {
        return new Date(issuedAt);
      },
      stateOf<T>(aggregate: { readonly type: string; readonly initialState: T }, id: string): T {
        const streamId = streamIdOf(aggregate.type, id);
        const view = dependencies?.get(streamId);
        if (!view) {
          throw new Error(`${request.command.type} reads ${streamId}, which its dependsOn does not name`);
        }
        return view.state as T;
      },
    };
  }

  /** One version-checked append of what `attempt` decided; answers the jobs once it is durable. */
  private async commit(
    decided: readonly { job: Job; outcome: Outcome }[],
    events: NewEvent[],
    outcomes: StoredOutcome[],
    state: unknown,
    deferred: Job[],
    dependencies?: Dependencies,
    moved?: Set<string>,
  ): Promise<{ retry: Job[]; clashed: boolean }> {
    const dependsOn: StreamVersion[] = [];
    for (const [streamId, { version, guarded }] of dependencies ?? []) {
      if (guarded) dependsOn.push({ streamId, version });
    }
    const result = await this.store.append({
      streamId: this.streamId,
      aggregateType: this.aggregate.type,
      expectedVersion: this.version,
      events,
      outcomes,
      final: this.aggregate.isFinal?.(state) ?? false,
      ...(dependsOn.length > 0 ? { dependsOn } : {}),
    });
    if (!result.ok) {
      const jobs = decided.map(({ job }) => job);
      if (result.reason === "dependency_conflict") {
        // Decided on another aggregate as it no longer is: decided again on what the store holds.
        moved?.add(result.streamId);
        this.options.onConflict?.(result.streamId);
        return { retry: [...jobs, ...deferred], clashed: true };
      }
      this.loading = undefined;
      if (result.reason === "version_conflict") {
        this.options.onConflict?.(this.streamId);
        return { retry: [...jobs, ...deferred], clashed: true };
      }
      // A key holds an outcome already: every keyed job looks before it is decided again. Counted
      // too: a store slow to show that outcome must not keep the actor deciding in a loop.
      for (const job of jobs) job.lookUp = job.request.idempotency !== undefined;
      return { retry: [...jobs, ...deferred], clashed: true };
    }

    if (events.length > 0) {
      const before = this.version;
      this.state = state;
      this.version = result.version;
      this.updatedAt = result.time;
      this.maybeSnapshot(before);
    }
    for (const { job, outcome } of decided) job.resolve({ ...outcome, replayed: false });
    return { retry: deferred, clashed: false };
  }

  private commandSpan(tracer: Tracing, { command, metadata }: CommandRequest<Message>): TraceSpan {
    return tracer.start(`command ${command.type}`, {
      parent: metadata.traceparent,
      attributes: {
        "eventfold.command.type": command.type,
        "eventfold.command.id": metadata.commandId,
        "eventfold.aggregate.type": this.aggregate.type,
        "eventfold.aggregate.id": this.id,
        "eventfold.correlation_id": metadata.correlationId,
      },
    });
  }

  private toNewEvent(event: Message, { request, issuedAt, span }: Job): NewEvent {
    const { type, ...data } = event;
    const { idempotency } = request;
    // Traced, its events name the command's span as their cause, within the request's trace.
    const metadata = span ? { ...request.metadata, traceparent: span.traceparent } : request.metadata;
    return {
      eventId: Bun.randomUUIDv7(),
      type,
      schemaVersion: this.aggregate.eventSchemaVersion ?? 1,
      data,
      metadata: idempotency
        ? { ...metadata, idempotencyKey: idempotency.key, issuedAt }
        : { ...metadata, issuedAt },
    };
  }

  private maybeSnapshot(before: number): void {
    const every = this.options.snapshotEvery;
    if (every <= 0 || Math.floor(before / every) === Math.floor(this.version / every)) return;
    this.store
      .saveSnapshot({
        streamId: this.streamId,
        version: this.version,
        snapshotVersion: snapshotShape(this.aggregate),
        state: this.state,
      })
      .catch((error) => this.options.onSnapshotError?.(error));
  }
}

/** The command's time: the one it was sent with (an instant, in the API's form), or the clock's. */
const issuedAtOf = (given: string | undefined, clock: (() => Date) | undefined): string => {
  const instant = given === undefined ? (clock?.() ?? new Date()) : new Date(given);
  if (Number.isNaN(instant.getTime())) throw new TypeError(`issuedAt is no instant: ${given}`);
  return instant.toISOString();
};

/** A command's span ends with its answer: what the command came to. */
const endCommandSpan = (span: TraceSpan, result: CommandResult): void => {
  span.set(
    result.kind === "accepted"
      ? { "eventfold.command.outcome": "accepted", "eventfold.aggregate.version": result.version }
      : { "eventfold.command.outcome": "rejected", "eventfold.rejection.code": result.rejection.code },
  );
  if (result.replayed) span.set({ "eventfold.command.replayed": true });
  span.end();
};

const preconditionFailed = (expected: number, actual: number): Rejection => ({
  kind: "precondition",
  code: "version_conflict",
  detail: `If-Match expected version ${expected}, the aggregate is at version ${actual}`,
});
