import type { Broker, Subscription } from "../broker/broker.ts";
import { answerWithin } from "../lib/deadline.ts";
import { errorMessage } from "../lib/errors.ts";
import { yieldToEventLoop } from "../lib/event-loop.ts";
import { outsideRequests } from "../observability/log.ts";
import type { Upcast } from "../runtime/upcast.ts";
import type { EventStore } from "../store/event-store.ts";
import type { Fill, Projection } from "./projection.ts";
import type { Open } from "./worker.ts";
import { projectionHandler, type WorkerHooks } from "./worker.ts";

/** How long a check for a lost store waits for it to answer. */
const LOSS_CHECK_TIMEOUT_MS = 2_000;

/** How long a replay waits at a position that is not readable yet before it gives up. */
const REPLAY_WAIT_MS = 60_000;

export interface RebuildProgress {
  /** Events read from the store so far, and how many it held when the rebuild began. */
  readonly done: number;
  readonly total: number;
  readonly startedAt: string;
  /** Events per second so far, and when it should be done at that rate. */
  readonly rate?: number;
  readonly expectedEnd?: string;
  /** The generation it fills (blue/green); the one before serves until it is done. */
  readonly generation?: number;
  /** Why it runs: asked for, or started by itself because the read store lost its data. */
  readonly reason: "requested" | "lost";
  readonly finishedAt?: string;
  readonly error?: string;
}

export interface ProjectionStatus {
  readonly name: string;
  /** `paused` once an operator paused it; a rebuild asked for meanwhile shows as `rebuilding`. */
  readonly state: "running" | "paused" | "rebuilding" | "stopped";
  /** Paused by an operator: its events wait on its queues until it resumes. */
  readonly paused: boolean;
  readonly rebuild?: RebuildProgress;
  /** The generation readers are served from, where the projection has generations. */
  readonly generation?: number;
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
  /** A projection's store lost what it held: the projector rebuilds it. */
  readonly onLost?: (projection: string) => void;
  /** A rebuild has ended: `progress.error` says whether it failed. */
  readonly onRebuilt?: (projection: string, progress: RebuildProgress) => void;
  /** The subscription of a projection could not be paused or resumed after a rebuild. */
  readonly onSteerFailed?: (projection: string, error: unknown) => void;
  /** How often each projection's store is checked for a loss (default 1 000 ms; 0: never). */
  readonly lossCheckMs?: number;
  /**
   * Turns events from the broker into their current shape (the relay publishes them as stored; a
   * rebuild reads them through the engine's store, which gives the current shape already).
   */
  readonly upcast?: Upcast;
  /** Opens the personal data of events as published (sealed), before they are upcast and applied. */
  readonly open?: Open;
}

interface Entry {
  readonly projection: Projection;
  subscription?: Subscription;
  /** Running, rebuilding or stopped: whether it is paused is `paused`. */
  state: "running" | "rebuilding" | "stopped";
  /** Paused by an operator. */
  paused: boolean;
  /** Held by the last stretch of a rebuild. */
  holding: boolean;
  /** Deliveries are stopped: the subscription is paused. */
  held: boolean;
  /** The last change of `held`, which the next waits for (pause and resume take their time). */
  steering: Promise<void>;
  rebuild?: RebuildProgress;
  rebuilding?: Promise<void>;
  generation?: number;
  position: number;
  lastEventTime?: string;
  lastAppliedAt?: string;
}

/** Runs the projections: one broker subscription each, plus rebuilds from the event store. */
export class Projector {
  private readonly entries = new Map<string, Entry>();
  private lossCheck: ReturnType<typeof setInterval> | undefined;
  private checking = false;
  /** Set by `stop`: a rebuild under way gives up at its next page (a new generation is dropped). */
  private stopping = false;

  constructor(
    private readonly store: EventStore,
    private readonly broker: Broker,
    projections: readonly Projection[],
    private readonly hooks: ProjectorHooks = {},
  ) {
    for (const projection of projections)
      this.entries.set(projection.name, {
        projection,
        state: "stopped",
        paused: false,
        holding: false,
        held: false,
        steering: Promise.resolve(),
        position: 0,
      });
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
      // Bounded: a store that does not answer must not hold the start (it is adopted next time).
      const adopting = entry.projection.generations?.adopt?.();
      if (adopting)
        await answerWithin(adopting, LOSS_CHECK_TIMEOUT_MS, () => new Error("no answer")).catch(() => {});
      if (entry.projection.volatile) {
        await this.replay(entry, entry.projection, "lost");
        entry.rebuild = { ...(entry.rebuild as RebuildProgress), finishedAt: new Date().toISOString() };
      }
      entry.subscription = await this.broker.subscribe(
        entry.projection.name,
        projectionHandler(
          entry.projection,
          this.store,
          this.workerHooks(entry),
          this.hooks.upcast,
          this.hooks.open,
        ),
      );
      await this.steer(entry);
      // Asked, not awaited: a store that does not answer must not hold the start.
      entry.projection.generations
        ?.serving()
        .then((generation) => {
          entry.generation ??= generation;
        })
        .catch(() => {});
      entry.state = "running";
    }
    // A store found without its data at start (new, or emptied while the service was down) is
    // refilled in the background: the rest of the service does not wait for it.
    void this.checkLosses();
    const every = this.hooks.lossCheckMs ?? 1_000;
    if (every > 0) this.lossCheck = setInterval(() => void this.checkLosses(), every);
  }

  /** Rebuilds, by itself, each projection whose store has lost what it held. */
  private async checkLosses(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      for (const entry of this.entries.values()) {
        const { projection } = entry;
        if (entry.state !== "running" || !projection.intact) continue;
        // A store that does not answer (in time) has not lost anything: readiness says it is down.
        const intact = await answerWithin(
          projection.intact(),
          LOSS_CHECK_TIMEOUT_MS,
          () => new Error("no answer"),
        ).catch(() => true);
        if (intact || entry.state !== "running") continue;
        this.hooks.onLost?.(projection.name);
        this.rebuild(projection.name, "lost");
      }
    } finally {
      this.checking = false;
    }
  }

  /**
   * Refills the projection from the event store, in the background; see `status`. With generations
   * the one serving keeps serving until the new one has caught up; without, it is dropped first.
   */
  rebuild(name: string, reason: RebuildProgress["reason"] = "requested"): RebuildProgress {
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`no such projection: ${name}`);
    if (entry.state !== "rebuilding") {
      entry.rebuild = { done: 0, total: 0, startedAt: new Date().toISOString(), reason };
      // It outlives the request that asked: its lines are not that request's.
      entry.rebuilding = outsideRequests(() => this.runRebuild(entry, reason));
    }
    return entry.rebuild as RebuildProgress;
  }

  /**
   * Stops applying events to one projection: its events wait on its queues (the relay and the other
   * projections go on) until `resume`. A pause lasts as long as the process: one started again
   * applies what waited. Resolves once the batches in hand are settled.
   */
  async pause(name: string): Promise<ProjectionStatus> {
    const entry = this.entry(name);
    entry.paused = true;
    await this.steer(entry);
    return this.statusOf(entry);
  }

  /** Applies events to a paused projection again, what waited first. */
  async resume(name: string): Promise<ProjectionStatus> {
    const entry = this.entry(name);
    entry.paused = false;
    await this.steer(entry);
    return this.statusOf(entry);
  }

  /**
   * Pauses or resumes the subscription to match what the operator and a rebuild ask, one change at a
   * time. A change that failed fails its caller only: the next one tries again from where it is. Run
   * outside any request: the broker's consumers it starts outlive the request that asked.
   */
  private steer(entry: Entry): Promise<void> {
    const change = entry.steering.then(() =>
      outsideRequests(async () => {
        const hold = entry.paused || entry.holding;
        const { subscription } = entry;
        if (hold === entry.held || !subscription || this.stopping) return;
        if (hold) await subscription.pause();
        else await subscription.resume();
        entry.held = hold;
      }),
    );
    entry.steering = change.catch(() => {});
    return change;
  }

  private entry(name: string): Entry {
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`no such projection: ${name}`);
    return entry;
  }

  /** Resolves when the rebuild of `name` (if any) has finished. */
  async settled(name: string): Promise<void> {
    await this.entries.get(name)?.rebuilding;
  }

  status(): ProjectionStatus[] {
    return [...this.entries.values()].map((e) => this.statusOf(e));
  }

  private statusOf(e: Entry): ProjectionStatus {
    return {
      name: e.projection.name,
      state: e.state === "running" && e.paused ? "paused" : e.state,
      paused: e.paused,
      position: e.position,
      ...(e.rebuild ? { rebuild: e.rebuild } : {}),
      ...(e.generation === undefined ? {} : { generation: e.generation }),
      ...(e.lastEventTime ? { lastEventTime: e.lastEventTime, lastAppliedAt: e.lastAppliedAt } : {}),
    };
  }

  async ping(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.projection.ping()));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.lossCheck);
    for (const entry of this.entries.values()) {
      await entry.rebuilding;
      await entry.steering;
      await entry.subscription?.close();
      entry.state = "stopped";
    }
  }

  private async runRebuild(entry: Entry, reason: RebuildProgress["reason"]): Promise<void> {
    const previous = entry.state;
    const { generations } = entry.projection;
    entry.state = "rebuilding";
    let filling: number | undefined;
    try {
      if (generations) {
        // Blue/green: live events go on to the generation serving while the new one is filled.
        const { generation, fill } = await generations.create();
        filling = generation;
        const reached = await this.replay(entry, fill, reason, generation);
        // The last stretch with live events held back, so none is applied only to the old one.
        entry.holding = true;
        await this.steer(entry);
        await this.replay(entry, fill, reason, generation, reached);
        await generations.switchTo(generation);
        filling = undefined;
        entry.generation = generation;
      } else {
        entry.holding = true;
        await this.steer(entry);
        entry.position = 0;
        await entry.projection.reset();
        await this.replay(entry, entry.projection, reason);
      }
      entry.rebuild = { ...(entry.rebuild as RebuildProgress), finishedAt: new Date().toISOString() };
    } catch (error) {
      entry.rebuild = {
        ...(entry.rebuild as RebuildProgress),
        error: errorMessage(error),
        finishedAt: new Date().toISOString(),
      };
      // Unless it serves after all (a switch whose answer was lost, or another projector's switch).
      if (filling !== undefined && generations) {
        const unused = filling;
        await generations
          .serving()
          .then((serving) => (serving === unused ? undefined : generations.drop(unused)))
          .catch(() => {});
      }
    } finally {
      // Whatever queued up meanwhile is now either a duplicate of what the rebuild read, or newer;
      // it stays queued if an operator paused the projection meanwhile.
      entry.holding = false;
      entry.state = previous === "stopped" ? "stopped" : "running";
      if (entry.rebuild) this.hooks.onRebuilt?.(entry.projection.name, entry.rebuild);
      // A subscription that cannot resume now is resumed by the next change (an operator's resume).
      await this.steer(entry).catch((error: unknown) =>
        this.hooks.onSteerFailed?.(entry.projection.name, error),
      );
    }
  }

  /**
   * Applies to `target` every stored event of the projection's aggregate types after `from`, in
   * position order, up to the store's head when it began; answers that position.
   */
  private async replay(
    entry: Entry,
    target: Fill,
    reason: RebuildProgress["reason"],
    generation?: number,
    from = 0,
  ): Promise<number> {
    const { projection } = entry;
    const total = await this.store.headPosition();
    const startedAt = entry.rebuild?.startedAt ?? new Date().toISOString();
    const began = performance.now();
    const progress = (done: number): RebuildProgress => {
      const seconds = (performance.now() - began) / 1000;
      const rate = seconds > 0 ? (done - from) / seconds : 0;
      return {
        done,
        total,
        startedAt,
        reason,
        ...(generation === undefined ? {} : { generation }),
        ...(rate > 0
          ? {
              rate: Math.round(rate),
              expectedEnd: new Date(Date.now() + ((total - done) / rate) * 1000).toISOString(),
            }
          : {}),
      };
    };
    entry.rebuild = progress(from);
    const context = { store: this.store };
    // Stored events up to `total` that are not readable yet are appends still landing (a store that
    // assigns positions before it writes): waited for, not passed, within a bound.
    let waitingSince: number | undefined;
    let after = from;
    while (after < total) {
      if (this.stopping) throw new Error("the projector stopped before the rebuild was done");
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
      if (ours.length > 0) await target.apply(ours, context);
      after = last.position;
      entry.rebuild = progress(Math.min(after, total));
      // A store read in-process and a fill that folds in memory never wait on I/O: without this the
      // whole replay is one run of microtasks, and whatever else this loop serves waits for its end.
      await yieldToEventLoop();
    }
    await target.flush?.(context);
    entry.rebuild = progress(total);
    return total;
  }

  private workerHooks(entry: Entry): WorkerHooks {
    const name = entry.projection.name;
    return {
      onApplied: (count, newest) => {
        const now = Date.now();
        if (newest.position >= entry.position) {
          entry.position = newest.position;
          entry.lastEventTime = newest.time;
        }
        entry.lastAppliedAt = new Date(now).toISOString();
        this.hooks.onLag?.(name, Math.max(0, (now - Date.parse(newest.time)) / 1000), count);
      },
      onFailed: (error, eventId) => this.hooks.onFailed?.(name, error, eventId),
    };
  }
}
