import { type Aggregate, type AnyAggregate, type Message, streamIdOf } from "../aggregate.ts";
import type { EventStore } from "../store/event-store.ts";
import { Actor, type ActorOptions, type ActorView } from "./actor.ts";
import type { CommandOutcome, CommandRequest } from "./command.ts";
import { ShuttingDownError } from "./errors.ts";

export interface ActorSystemOptions extends ActorOptions {
  /** Most actors kept in memory; the least recently used idle ones are passivated beyond it. */
  readonly maxActors: number;
  /** An actor unused for this long is passivated. */
  readonly idleMs: number;
}

export interface AggregateView<S> {
  readonly state: S;
  readonly version: number;
  readonly updatedAt: string | undefined;
}

/**
 * Routes each command to the one actor that owns its aggregate, creating it on demand. Live actors
 * are kept in a Map in least-recently-used order, so the bound on their number is enforced by
 * dropping idle actors from the front; their state comes back from the store when next needed.
 */
export class ActorSystem {
  private readonly actors = new Map<string, Actor>();
  private readonly sweeper: Timer;
  private draining = false;

  constructor(
    private readonly store: EventStore,
    private readonly options: ActorSystemOptions,
  ) {
    this.sweeper = setInterval(() => this.passivateIdle(), Math.max(1000, Math.min(options.idleMs, 30_000)));
    this.sweeper.unref();
  }

  get size(): number {
    return this.actors.size;
  }

  dispatch<S, C extends Message, E extends Message>(
    aggregate: Aggregate<S, C, E>,
    id: string,
    request: CommandRequest<C, S>,
  ): Promise<CommandOutcome<S>> {
    if (this.draining) return Promise.reject(new ShuttingDownError("shutting down"));
    const actor = this.actorFor(aggregate, id);
    return actor.send(request as CommandRequest<Message>) as Promise<CommandOutcome<S>>;
  }

  /** The aggregate's last durable state as this process knows it. */
  async view<S, C extends Message, E extends Message>(
    aggregate: Aggregate<S, C, E>,
    id: string,
  ): Promise<AggregateView<S>> {
    const view: ActorView = await this.actorFor(aggregate, id).view();
    return view as AggregateView<S>;
  }

  /** Stops taking commands and waits for every mailbox to empty. */
  async drain(): Promise<void> {
    this.draining = true;
    clearInterval(this.sweeper);
    while ([...this.actors.values()].some((actor) => !actor.idle)) await Bun.sleep(5);
  }

  private actorFor(aggregate: AnyAggregate, id: string): Actor {
    const streamId = streamIdOf(aggregate.type, id);
    let actor = this.actors.get(streamId);
    if (actor) {
      // Re-insert to keep the Map in least-recently-used order.
      this.actors.delete(streamId);
    } else {
      actor = new Actor(aggregate, streamId, this.store, this.options);
    }
    this.actors.set(streamId, actor);
    if (this.actors.size > this.options.maxActors) this.evictLeastRecentlyUsed();
    return actor;
  }

  private evictLeastRecentlyUsed(): void {
    let excess = this.actors.size - this.options.maxActors;
    for (const [streamId, actor] of this.actors) {
      if (excess <= 0) break;
      if (actor.idle) {
        this.actors.delete(streamId);
        excess -= 1;
      }
    }
  }

  private passivateIdle(): void {
    const cutoff = Date.now() - this.options.idleMs;
    for (const [streamId, actor] of this.actors) {
      if (actor.idle && actor.lastUsed < cutoff) this.actors.delete(streamId);
    }
  }
}
