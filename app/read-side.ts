import { createReadSide, readRouteShapes } from "../projections/index.ts";
import type { Broker } from "../src/broker/broker.ts";
import type { DeadLetters } from "../src/broker/dead-letters.ts";
import { openBroker } from "../src/broker/open.ts";
import type { Config } from "../src/config.ts";
import type { Engine } from "../src/engine.ts";
import { adminRoutes } from "../src/http/admin-routes.ts";
import type { ReadinessCheck } from "../src/http/app.ts";
import { elsewhere } from "../src/http/remote-routes.ts";
import type { HttpRoute } from "../src/http/route.ts";
import type { Logger } from "../src/observability/log.ts";
import { type Metrics, observeGauge, observeLabelledGauge } from "../src/observability/metrics.ts";
import type { Projection } from "../src/projector/projection.ts";
import { Projector } from "../src/projector/projector.ts";
import { OutboxRelay } from "../src/relay/outbox-relay.ts";
import { type EventStore, StoreUnavailableError } from "../src/store/event-store.ts";
import type { Store } from "../src/store/store.ts";

/**
 * What the projector role runs: the outbox relay, the broker, the projections and the read models they
 * fill, with the routes that read them and the admin routes that steer them.
 */
export interface ReadSidePart {
  /** The routes that read the read models, then those that steer the projections. */
  readonly routes: RouteGroups;
  readonly readiness: readonly ReadinessCheck[];
  readonly projector: Projector;
  readonly relay: OutboxRelay;
  readonly broker: Broker;
  /** Where the hot lookups live, as the start-up line names it. */
  readonly hotLookup: string;
  stop(): Promise<void>;
}

export interface RouteGroups {
  readonly read: readonly HttpRoute[];
  readonly admin: readonly HttpRoute[];
}

export interface ReadSidePartOptions {
  readonly config: Config;
  /** The store as opened: the relay publishes events as stored. */
  readonly storeAsOpened: Store;
  /** The engine over it: the projections read events in their current shape through it. */
  readonly engine: Engine;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Decorates the projections before they run (tests inject faults this way). */
  readonly projections?: (projections: readonly Projection[]) => readonly Projection[];
}

/** A read store that does not answer yet (it is retried): a warning, naming it. */
export const readStoreTrouble = (log: Logger) => (error: unknown, what: string) =>
  log.warn({ err: error, store: what }, "a read store does not answer");

export const startReadSidePart = async (options: ReadSidePartOptions): Promise<ReadSidePart> => {
  const { config, engine, metrics, log } = options;
  const { store } = engine;
  const readSide = await createReadSide(config, {
    writes: true,
    onError: readStoreTrouble(log),
  });
  const opened = await openBroker(config, (error) => log.warn({ err: error }, "broker connection trouble"));
  const { broker } = opened;
  const projections = options.projections?.(readSide.projections) ?? readSide.projections;
  const projector = new Projector(store, broker, projections, {
    onLag: (projection, seconds, count) => {
      const lag = metrics.projectionLag.labels({ projection });
      for (let i = 0; i < Math.min(count, 100); i++) lag.observe(seconds);
    },
    onFailed: (projection, error, eventId) => {
      metrics.projectionFailures.inc({ projection });
      log.warn({ err: error, projection, eventId }, "projection failed on an event; it will be retried");
    },
    upcast: engine.upcast,
    // Every projection is handed the same events: each is opened once for all of them.
    open: engine.personalData?.sharedOpener(),
    onLost: (projection) =>
      log.warn(
        { projection },
        "a read store lost what it held: its projection is rebuilt from the event store",
      ),
    onSteerFailed: (projection, error) =>
      log.warn(
        { err: error, projection },
        "a projection's consumers could not be resumed after its rebuild; resume it to try again",
      ),
    onRebuilt: (projection, { total, startedAt, finishedAt, error }) => {
      const seconds = (Date.parse(finishedAt ?? startedAt) - Date.parse(startedAt)) / 1000;
      if (error) log.warn({ projection, seconds, error }, "a projection's rebuild failed");
      else log.info({ projection, events: total, seconds }, "a projection was rebuilt from the event store");
    },
  });
  // The relay publishes events as stored; the projections take each into its current shape once.
  const relay = new OutboxRelay(options.storeAsOpened, broker, {
    batchSize: config.relayBatch,
    // The in-process broker confirms a round only once every projection has applied it, and the
    // analytics projection inserts about once a second: the rounds of that second wait on it while
    // the hot lookups move on, so many rounds may be in flight.
    maxInFlight: config.relayMaxInFlight,
    maxEventsInFlight: config.relayMaxEventsInFlight,
    minRoundIntervalMs: config.relayIntervalMs,
    checkpointEveryMs: config.relayCheckpointMs,
    idleMs: 100,
    leaseTtlMs: config.relayLeaseMs,
    onError: (error) => {
      // A store that cannot write is logged once per episode by the store.
      if (!(error instanceof StoreUnavailableError))
        log.warn({ err: error }, "outbox relay: publishing failed; retrying");
    },
    onPublished: (count) => metrics.relayPublished.inc(count),
  });
  observeGauge(metrics, "eventfold_outbox_lag_events", "Stored events not yet published", async () =>
    Math.max(0, (await store.headPosition()) - relay.position),
  );
  const depths = async (depth: (projection: string) => Promise<number>) =>
    Object.fromEntries(
      await Promise.all(projector.names.map(async (name) => [name, await depth(name)] as const)),
    );
  observeLabelledGauge(
    metrics,
    "eventfold_projection_queued_events",
    "Events waiting for a projection",
    "projection",
    () => depths((name) => broker.queued(name)),
  );
  observeLabelledGauge(
    metrics,
    "eventfold_dead_letters",
    "Dead-lettered events per projection",
    "projection",
    () => depths((name) => opened.deadLetters.count(name)),
  );
  await projector.start();
  relay.start();
  return {
    routes: {
      read: readSide.routes,
      admin: adminRoutes(projector, opened.deadLetters, broker, store, log, (events) =>
        engine.personalData ? engine.personalData.openEvents(events) : Promise.resolve(events),
      ),
    },
    readiness: [...readSide.readiness, { name: "broker", check: () => broker.ping() }],
    projector,
    relay,
    broker,
    hotLookup: readSide.hot.name,
    stop: async () => {
      await relay.stop();
      await projector.stop();
      await broker.close();
      await readSide.close();
    },
  };
};

/** The shapes of the routes a read side serves, for an edge that hands them to its thread. */
export const readSideRouteShapes = (config: Config): RouteGroups => ({
  read: readRouteShapes(config),
  admin: adminRoutes(
    elsewhere<Projector>("the projector"),
    elsewhere<DeadLetters>("the dead letters"),
    elsewhere<Broker>("the broker"),
    elsewhere<EventStore>("the event store"),
    elsewhere<Logger>("the read side's log"),
  ),
});
