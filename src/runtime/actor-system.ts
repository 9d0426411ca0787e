import { type Aggregate, type AnyAggregate, type Message, streamIdOf } from "../aggregate.ts";
import { forEachInSlices } from "../lib/event-loop.ts";
import { Actor, type ActorOptions, type ActorStore, type ActorView } from "./actor.ts";
import type { CommandRequest, CommandResult } from "./command.ts";
import { ShuttingDownError } from "./errors.ts";

/** Actors looked at between two turns of the event loop when sweeping for idle ones. */
const sweepSlice = 5_000;

export interface ActorSystemOptions extends ActorOptions {
  /** Most actors kept in memory; the least recently used idle ones are passivated beyond it. */
  readonly maxActors: number;
  /** An actor unused for this long is passivated. */
  readonly idleMs: number;
}

export interface AggregateView<S> {
  readonly state: S;
  /** 0 for an aggregate with no events. */
  readonly version: number;
  readonly updatedAt: string | undefined;
}

/**
 * A live actor, and whether it was used since the eviction hand last passed it. A new actor is on
 * probation until its first uses are done: only then is it known whether its aggregate exists.
 */
interface Resident {
  readonly actor: Actor;
  used: boolean;
  probation: boolean;
}

/**
 * Routes each command to the one actor that owns its aggregate, creating it on demand. The bound on
 * live actors is kept by second-chance eviction (CLOCK, an approximation of least-recently-used): the
 * hand goes from the oldest; an actor used since it last passed goes to the back once more, an idle one
 * that was not is dropped, and its state comes back from the store when next needed. A use only sets a
 * flag: moving the actor to the back of the Map on every command, as an exact LRU would, churns a Map of
 * a hundred thousand actors into rehashes that stall the event loop for tens of milliseconds.
 *
 * An aggregate that does not exist takes no slot: a new actor makes room for itself only once its
 * first uses are done and its aggregate turned out to exist (or came to, by an accepted command).
 * Until then it is on probation, over the bound, and if its aggregate does not exist it is dropped.
 * So a stream of reads of ids that do not exist, or of commands refused for want of the aggregate,
 * never evicts the live actors that serve real traffic.
 */
export class ActorSystem {
  private readonly actors = new Map<string, Resident>();
  private readonly sweeper: Timer;
  /** What each actor is made with: the system's options, and its hook for an actor that goes idle. */
  private readonly actorOptions: ActorOptions;
  private draining = false;
  /** Actors whose aggregate is not yet known to exist: in the Map, not counted against the bound. */
  private onProbation = 0;
  private sweeping = false;

  constructor(
    private readonly store: ActorStore,
    private readonly options: ActorSystemOptions,
  ) {
    this.actorOptions = {
      ...options,
      onIdle: (actor) => {
        const resident = this.actors.get(actor.streamId);
        if (resident?.actor === actor && resident.probation) this.endProbation(resident);
      },
      readDependency: (aggregate, id) => this.view(aggregate, id),
    };
    this.sweeper = setInterval(
      () => void this.passivateIdle(),
      Math.max(1000, Math.min(options.idleMs, 30_000)),
    );
    this.sweeper.unref();
  }

  get size(): number {
    return this.actors.size;
  }

  dispatch<S, C extends Message, E extends Message>(
    aggregate: Aggregate<S, C, E>,
    id: string,
    request: CommandRequest<C>,
  ): Promise<CommandResult<S>> {
    if (this.draining) return Promise.reject(new ShuttingDownError("shutting down"));
    return this.residentFor(aggregate, id).actor.send(request) as Promise<CommandResult<S>>;
  }

  /** The aggregate's last durable state as this process knows it. */
  async view<S, C extends Message, E extends Message>(
    aggregate: Aggregate<S, C, E>,
    id: string,
  ): Promise<AggregateView<S>> {
    const resident = this.residentFor(aggregate, id);
    try {
      const view: ActorView = await resident.actor.view();
      return view as AggregateView<S>;
    } finally {
      if (resident.probation) this.endProbation(resident);
    }
  }

  /**
   * Drops the stream's actor, idle or not: the next command or read loads it again from the store (its
   * data subject was erased, and the state it holds shows what the store no longer gives). One still
   * working finishes what its mailbox holds; an append of it that clashes with the new actor's is
   * refused by the store, like any other.
   */
  forget(streamId: string): void {
    const resident = this.actors.get(streamId);
    if (!resident) return;
    if (resident.probation) this.onProbation -= 1;
    this.actors.delete(streamId);
  }

  /** Stops taking commands and waits for every mailbox to empty. */
  async drain(): Promise<void> {
    this.draining = true;
    clearInterval(this.sweeper);
    while ([...this.actors.values()].some(({ actor }) => !actor.idle)) await Bun.sleep(5);
  }

  private residentFor(aggregate: AnyAggregate, id: string): Resident {
    const streamId = streamIdOf(aggregate.type, id);
    const resident = this.actors.get(streamId);
    if (resident) {
      resident.used = true;
      return resident;
    }
    const actor = new Actor(aggregate, id, streamId, this.store, this.actorOptions);
    const created = { actor, used: false, probation: true };
    this.onProbation += 1;
    this.actors.set(streamId, created);
    return created;
  }

  /**
   * After a use of an actor on probation (a view, or its mailbox emptied): once it is idle, it stays
   * if its aggregate exists, making room by the bound, and goes if not.
   */
  private endProbation(resident: Resident): void {
    const { actor } = resident;
    if (!resident.probation || !actor.idle) return;
    if (this.actors.get(actor.streamId) !== resident) return;
    resident.probation = false;
    this.onProbation -= 1;
    if (!actor.exists) {
      this.actors.delete(actor.streamId);
      return;
    }
    // Those still on probation are over the bound, not in it.
    const excess = this.actors.size - this.onProbation - this.options.maxActors;
    if (excess > 0) this.evict(excess, actor.streamId);
  }

  /** Drops `excess` idle actors, never `keep` (the one just admitted), nor one still on probation. */
  private evict(excess: number, keep: string): void {
    // Twice round at most: the first pass may only take away second chances.
    let steps = this.actors.size * 2;
    for (const [streamId, resident] of this.actors) {
      if (excess <= 0 || steps-- <= 0) break;
      if (streamId === keep || resident.probation) continue;
      if (resident.used) {
        resident.used = false;
        this.actors.delete(streamId);
        this.actors.set(streamId, resident);
      } else if (resident.actor.idle) {
        this.actors.delete(streamId);
        excess -= 1;
      }
    }
  }

  /**
   * A pass over every live actor, a slice at a time: in one go, a pass over a hundred thousand would
   * hold the event loop for milliseconds. The Map's iterator outlives the pauses (it sees deletions and additions),
   * and each actor is judged when reached, so one handed a command meanwhile is not idle.
   */
  private async passivateIdle(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const cutoff = Date.now() - this.options.idleMs;
      await forEachInSlices(this.actors, sweepSlice, ([streamId, resident]) => {
        const { actor } = resident;
        if (!actor.idle || actor.lastUsed >= cutoff) return;
        if (resident.probation) this.onProbation -= 1;
        this.actors.delete(streamId);
      });
    } finally {
      this.sweeping = false;
    }
  }
}
