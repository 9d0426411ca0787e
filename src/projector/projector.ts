import type { Broker, Subscription } from "../broker/broker.ts";
import { errorMessage } from "../lib/errors.ts";
import type { Upcast } from "../runtime/upcast.ts";
import type { EventStore } from "../store/event-store.ts";
import type { Projection } from "./projection.ts";
import { projectionHandler, type WorkerHooks } from "./worker.ts";

/** How long a replay waits at a position that is not readable yet before it gives up. */
const REPLAY_WAIT_MS = 60_000;

export interface RebuildProgress {
  readonly done: number;
  readonly total: number;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly error?: string;
}

export interface ProjectionStatus {
  readonly name: string;
  readonly state: "running" | "rebuilding" | "stopped";
  readonly rebuild?: RebuildProgress;
  /**
   * The highest global position applied. Deliveries are not in position order, so events below it
   * may still be on their way: `lastEventTime` and the queue depth say how far behind it is.
   */
  readonly position: number;
  /** Time of the newest event applied, and when it was applied. */
  readonly lastEventTime?: string;
  readonly lastAppliedAt?: string;
}

export interface ProjectorHooks {
  /** Seconds from an event's append to its being applied, per applied batch. */
  readonly onLag?: (projection: string, seconds: number, count: number) => void;
  readonly onFailed?: (projection: string, error: unknown, eventId: string) => void;
  /**
   * Turns events into their current shape: the broker may hold some published before their shape
   * changed (the store read through the engine gives the current shape already).
   */
  readonly upcast?: Upcast;
}

interface Entry {
  readonly projection: Projection;
  subscription?: Subscription;
  state: ProjectionStatus["state"];
  rebuild?: RebuildProgress;
  rebuilding?: Promise<void>;
  position: number;
  lastEventTime?: string;
  lastAppliedAt?: string;
}

/** Runs the projections: one broker subscription each, plus rebuilds from the event store. */
export class Projector {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly store: EventStore,
    private readonly broker: Broker,
    projections: readonly Projection[],
    private readonly hooks: ProjectorHooks = {},
  ) {
    for (const projection of projections)
      this.entries.set(projection.name, { projection, state: "stopped", position: 0 });
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  async start(): Promise<void> {
    await this.broker.declare([...this.entries.values()].map((e) => e.projection));
    for (const entry of this.entries.values()) {
      // A projection that kept nothing across the restart starts from the whole store.
      if (entry.projection.volatile) await this.replay(entry);
      entry.subscription = await this.broker.subscribe(
        entry.projection.name,
        projectionHandler(entry.projection, this.store, this.workerHooks(entry), this.hooks.upcast),
      );
      entry.state = "running";
    }
  }

  /** Drops the projection and refills it from the event store, in the background; see `status`. */
  rebuild(name: string): RebuildProgress {
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`no such projection: ${name}`);
    if (entry.state !== "rebuilding") {
      entry.rebuild = { done: 0, total: 0, startedAt: new Date().toISOString() };
      entry.position = 0;
      entry.rebuilding = this.runRebuild(entry);
    }
    return entry.rebuild ?? { done: 0, total: 0, startedAt: new Date().toISOString() };
  }

  /** Resolves when the rebuild of `name` (if any) has finished. */
  async settled(name: string): Promise<void> {
    await this.entries.get(name)?.rebuilding;
  }

  status(): ProjectionStatus[] {
    return [...this.entries.values()].map((e) => ({
      name: e.projection.name,
      state: e.state,
      position: e.position,
      ...(e.rebuild ? { rebuild: e.rebuild } : {}),
      ...(e.lastEventTime ? { lastEventTime: e.lastEventTime, lastAppliedAt: e.lastAppliedAt } : {}),
    }));
  }

  async ping(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.projection.ping()));
  }

  async stop(): Promise<void> {
    for (const entry of this.entries.values()) {
      await entry.rebuilding;
      await entry.subscription?.close();
      entry.state = "stopped";
    }
  }

  private async runRebuild(entry: Entry): Promise<void> {
    const previous = entry.state;
    entry.state = "rebuilding";
    try {
      await entry.subscription?.pause();
      await entry.projection.reset();
      await this.replay(entry);
    } catch (error) {
      entry.rebuild = {
        ...(entry.rebuild as RebuildProgress),
        error: errorMessage(error),
        finishedAt: new Date().toISOString(),
      };
    } finally {
      // Whatever queued up meanwhile is now either a duplicate of what the rebuild read, or newer.
      await entry.subscription?.resume();
      entry.state = previous === "stopped" ? "stopped" : "running";
    }
  }

  /** Applies every stored event of the projection's aggregate types, in position order. */
  private async replay(entry: Entry): Promise<void> {
    const { projection } = entry;
    const total = await this.store.headPosition();
    const startedAt = entry.rebuild?.startedAt ?? new Date().toISOString();
    entry.rebuild = { done: 0, total, startedAt };
    const context = { store: this.store };
    // Stored events up to `total` that are not readable yet are appends still landing (a store that
    // assigns positions before it writes): waited for, not passed, within a bound.
    let waitingSince: number | undefined;
    for (let after = 0; after < total; ) {
      const page = await this.store.readAll(after, 2_000);
      const last = page.at(-1);
      if (!last) {
        waitingSince ??= performance.now();
        if (performance.now() - waitingSince > REPLAY_WAIT_MS) {
          throw new Error(
            `the event store did not get past position ${after} of ${total} within ${REPLAY_WAIT_MS} ms`,
          );
        }
        await Bun.sleep(50);
        continue;
      }
      waitingSince = undefined;
      const ours = page.filter(
        (e) => projection.aggregateTypes.includes(e.aggregateType) && e.position <= total,
      );
      if (ours.length > 0) await projection.apply(ours, context);
      after = last.position;
      entry.rebuild = { done: Math.min(after, total), total, startedAt };
    }
    entry.rebuild = { done: total, total, startedAt, finishedAt: new Date().toISOString() };
  }

  private workerHooks(entry: Entry): WorkerHooks {
    const name = entry.projection.name;
    return {
      onApplied: (count, last) => {
        const now = Date.now();
        entry.position = Math.max(entry.position, last.position);
        entry.lastEventTime = last.time;
        entry.lastAppliedAt = new Date(now).toISOString();
        this.hooks.onLag?.(name, Math.max(0, (now - Date.parse(last.time)) / 1000), count);
      },
      onFailed: (error, eventId) => this.hooks.onFailed?.(name, error, eventId),
    };
  }
}
