import type { AnyAggregate } from "./aggregate.ts";
import type { Config } from "./config.ts";
import type { Logger } from "./observability/log.ts";
import { type Metrics, observeGauge } from "./observability/metrics.ts";
import type { PersonalData } from "./privacy/personal-data.ts";
import { personalDataStore } from "./privacy/personal-store.ts";
import { ActorSystem } from "./runtime/actor-system.ts";
import { createDomainApi, type DomainApi } from "./runtime/api.ts";
import { type ProcessManager, ProcessRunner } from "./runtime/process-runner.ts";
import { type Upcast, upcasterOf, upcastingStore } from "./runtime/upcast.ts";
import { StoreUnavailableError } from "./store/event-store.ts";
import type { Store } from "./store/store.ts";
import { EventFeed } from "./subscriptions/event-feed.ts";

export interface Engine {
  readonly config: Config;
  readonly store: Store;
  readonly actors: ActorSystem;
  readonly processes: ProcessRunner<DomainApi>;
  /** What routes and processes get: commands, queries, processes; not the store or the actors. */
  readonly api: DomainApi;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The domain's processes, resumed at start-up where a crash left them unfinished. */
  readonly processManagers: readonly ProcessManager<DomainApi>[];
  /** Turns a stored event into its current shape (the engine's store does so for every read). */
  readonly upcast: Upcast;
  /** The event log as consumers outside the service follow it; woken by each committed batch. */
  readonly feed: EventFeed;
  /** Seals and opens personal data, and erases its subjects; absent where the domain declares none. */
  readonly personalData?: PersonalData;
}

export interface EngineParts {
  readonly config: Config;
  readonly store: Store;
  /** The domain's aggregates, whose upcasters every read of events applies. */
  readonly aggregates: readonly AnyAggregate[];
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly processManagers: readonly ProcessManager<DomainApi>[];
  /** The time every command is stamped with, and its `decide` sees (default: the system clock). */
  readonly clock?: () => Date;
  /** Seals the personal data the aggregates declare (see `src/privacy`); absent: stored as it comes. */
  readonly personalData?: PersonalData;
}

export const createEngine = (parts: EngineParts): Engine => {
  const { config, metrics, log } = parts;
  // Every part reads events through this: personal data opened (or erased), in their current shape.
  const upcast = upcasterOf(parts.aggregates);
  const sealed = parts.personalData ? personalDataStore(parts.store, parts.personalData) : parts.store;
  const store = upcastingStore(sealed, upcast);
  const actors = new ActorSystem(store, {
    maxActors: config.maxActors,
    idleMs: config.actorIdleMs,
    mailboxCapacity: config.mailboxCapacity,
    maxBatch: config.actorBatch,
    snapshotEvery: config.snapshotEvery,
    maxAttempts: config.actorMaxAttempts,
    onSnapshotError: (error) => log.warn({ err: error }, "snapshot not saved"),
    onConflict: () => metrics.appendConflicts.inc(),
    onStage: metrics.writeStages.observe,
    clock: parts.clock,
  });
  observeGauge(metrics, "eventfold_live_actors", "Actors in memory", () => actors.size);
  const processes = new ProcessRunner<DomainApi>(() => api, {
    onError: (error, process, id, attempt) => {
      // A store that cannot write is logged once per episode by the store.
      if (!(error instanceof StoreUnavailableError))
        log.warn({ err: error, process, id, attempt }, "process step failed; retrying");
    },
  });
  const api = createDomainApi(store, actors, processes);
  return {
    ...parts,
    store,
    upcast,
    actors,
    processes,
    api,
    feed: new EventFeed(store, { wakeEveryMs: config.eventsWakeMs }),
  };
};

/** Resumes every process a crash left unfinished. */
export const resumeProcesses = (engine: Engine): Promise<number> =>
  engine.processes.resumeAll(engine.store, engine.processManagers);

/** SIGTERM: stop taking commands and let mailboxes and running processes finish. */
export const drainEngine = async (engine: Engine): Promise<void> => {
  await engine.actors.drain();
  await engine.processes.drain();
};
