import type { AnyAggregate } from "./aggregate.ts";
import type { Config } from "./config.ts";
import type { HttpRoute } from "./http/route.ts";
import type { Logger } from "./observability/log.ts";
import { type Metrics, observeGauge } from "./observability/metrics.ts";
import { ActorSystem } from "./runtime/actor-system.ts";
import { type ProcessManager, ProcessRunner } from "./runtime/process-runner.ts";
import type { EventStore } from "./store/event-store.ts";

/** What a domain module gives the engine: its aggregates, its HTTP routes and its processes. */
export interface DomainModule {
  readonly aggregates: readonly AnyAggregate[];
  readonly routes: readonly HttpRoute[];
  readonly processes?: readonly ProcessManager<Engine>[];
}

export interface Engine {
  readonly config: Config;
  readonly store: EventStore;
  readonly actors: ActorSystem;
  readonly processes: ProcessRunner<Engine>;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly modules: readonly DomainModule[];
}

export interface EngineParts {
  readonly config: Config;
  readonly store: EventStore;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly modules: readonly DomainModule[];
}

export const createEngine = (parts: EngineParts): Engine => {
  const { config, store, metrics, log } = parts;
  const actors = new ActorSystem(store, {
    maxActors: config.maxActors,
    idleMs: config.actorIdleMs,
    mailboxCapacity: config.mailboxCapacity,
    maxBatch: 256,
    snapshotEvery: config.snapshotEvery,
    maxAttempts: 20,
    onSnapshotError: (error) => log.warn({ err: error }, "snapshot not saved"),
    onConflict: () => metrics.appendConflicts.inc(),
  });
  observeGauge(metrics, "eventfold_live_actors", "Actors in memory", () => actors.size);
  const engine: Engine = {
    ...parts,
    actors,
    processes: new ProcessRunner<Engine>(() => engine, {
      onError: (error, process, id, attempt) =>
        log.warn({ err: error, process, id, attempt }, "process step failed; retrying"),
    }),
  };
  return engine;
};

/** Resumes every process a crash left unfinished. */
export const resumeProcesses = async (engine: Engine): Promise<number> => {
  const processes = engine.modules.flatMap((m) => m.processes ?? []);
  return engine.processes.resumeAll(engine.store, processes);
};

/** SIGTERM: stop taking commands and let mailboxes and running processes finish. */
export const drainEngine = async (engine: Engine): Promise<void> => {
  await engine.actors.drain();
  await engine.processes.drain();
};
