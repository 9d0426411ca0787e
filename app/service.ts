import http from "node:http";
import { join } from "node:path";
import { domain } from "../actors/index.ts";
import { createReadSide, type ReadSide, readSideProblemTypes } from "../projections/index.ts";
import type { Broker } from "../src/broker/broker.ts";
import type { Config } from "../src/config.ts";
import { createEngine, drainEngine, type Engine, resumeProcesses } from "../src/engine.ts";
import { createApp, type ReadinessCheck } from "../src/http/app.ts";
import { mountConsole } from "../src/http/console/routes.ts";
import { erasureRoutes } from "../src/http/erasure-routes.ts";
import { eventRoutes } from "../src/http/event-routes.ts";
import { ledgerProblemTypes, ledgerRoutes } from "../src/http/ledger-routes.ts";
import { problem } from "../src/http/problem.ts";
import type { ProblemType } from "../src/http/problem-types.ts";
import { headerForms, SERVER_HEAD_BYTES, serverBodyBytes } from "../src/http/request.ts";
import type { HttpRoute } from "../src/http/route.ts";
import { Ledger } from "../src/ledger/ledger.ts";
import { loadSigningKey } from "../src/ledger/signing.ts";
import { StartupError } from "../src/lib/errors.ts";
import { createLogger, type Logger, outsideRequests } from "../src/observability/log.ts";
import {
  collectProcessMetrics,
  createMetrics,
  observeCounter,
  observeLabelledGauge,
} from "../src/observability/metrics.ts";
import { startTracing, stopTracing } from "../src/observability/tracing.ts";
import { forgetSubject, recordErasure } from "../src/privacy/erasure.ts";
import { watchErasures } from "../src/privacy/erasure-watch.ts";
import { openPersonalData } from "../src/privacy/open.ts";
import type { Projection } from "../src/projector/projection.ts";
import type { Projector } from "../src/projector/projector.ts";
import type { OutboxRelay } from "../src/relay/outbox-relay.ts";
import { openStore } from "../src/store/open.ts";
import {
  type ReadSidePart,
  type RouteGroups,
  readSideRouteShapes,
  readStoreTrouble,
  startReadSidePart,
} from "./read-side.ts";
import { ReadSideThread } from "./read-side-client.ts";

/** `all`: one process does everything (`npm start`); `edge` takes HTTP; `projector` relays and projects. */
export type ServiceRole = "all" | "edge" | "projector";

export interface Service {
  readonly url: string;
  readonly role: ServiceRole;
  readonly engine: Engine;
  /** Present where the projector runs on this event loop. */
  readonly projector?: Projector;
  readonly relay?: OutboxRelay;
  readonly broker?: Broker;
  /** The HTTP edge's handler, to send it a request in this process, without the socket. */
  readonly fetch: (request: Request) => Response | Promise<Response>;
  /** Drains and closes: in-flight commands finish, batches flush, consumers ack, connections close. */
  stop(): Promise<void>;
}

export interface ServiceOptions {
  readonly role?: ServiceRole;
  /** Decorates the projections before they run (tests inject faults this way): on this event loop. */
  readonly projections?: (projections: readonly Projection[]) => readonly Projection[];
  /**
   * Role `all`: the read side on a thread of its own (`EVENTFOLD_READ_SIDE_THREAD`, which app/main.ts
   * passes). In-process callers get it on this event loop unless they ask, so that they can reach the
   * projector, the relay and the broker.
   */
  readonly readSideThread?: boolean;
  /** Where this event loop logs (a test reading what was logged); the read side's thread logs to stdout. */
  readonly log?: Logger;
  /**
   * The read side's thread stopped by itself: the process can no longer project or answer reads, and
   * is of use again only restarted (app/main.ts stops and exits 1, so that a supervisor restarts it).
   */
  readonly onReadSideLost?: (error: Error) => void;
}

const embeddedOnlyInOneProcess = (config: Config) => {
  if (!config.redisUrl || !config.clickhouseUrl) {
    throw new StartupError(
      "npm run edge needs REDIS_URL and CLICKHOUSE_URL: the embedded read models live inside the projector's " +
        "process. Run everything in one process with npm start, or point both at servers.",
    );
  }
};

/**
 * Takes the port before anything else is opened, so that a port in use is said at once; until the
 * service is wired, every request is answered 503.
 */
const listen = (config: Config) => {
  // Until the service is wired, every route answers as the document says of a store not open yet:
  // 503 `unavailable`, to be sent again, with the request's correlation id.
  let handle = (request: Request, _server: Bun.Server<undefined>): Response | Promise<Response> => {
    const sent = request.headers.get("x-correlation-id");
    return new Response(JSON.stringify(problem(503, "unavailable", "the server is starting").body), {
      status: 503,
      headers: {
        "Content-Type": "application/problem+json",
        "Retry-After": "1",
        "X-Correlation-Id": sent && headerForms.visibleAscii.test(sent) ? sent : Bun.randomUUIDv7(),
      },
    });
  };
  // Bun reads its limit on request heads from node:http's setting when a server starts; Node's types
  // call it read-only, as it is in Node (where only a flag sets it).
  (http as { maxHeaderSize: number }).maxHeaderSize = SERVER_HEAD_BYTES;
  try {
    const server = Bun.serve({
      port: config.port,
      hostname: config.host,
      // The server goes with each request, so that a route can steer its connection's idle timeout.
      fetch: (request, server) => handle(request, server),
      // Bun closes a connection silent this long, a request still waiting for its answer included
      // (its default is 10 s, less than a store's deadline): see EVENTFOLD_HTTP_IDLE_TIMEOUT_S.
      idleTimeout: config.httpIdleTimeoutS,
      // The edge checks bodies against EVENTFOLD_MAX_BODY_BYTES and answers a problem; this only stops
      // absurd uploads early (Bun's 413 has no body), so it stays well above the edge's limit.
      maxRequestBodySize: serverBodyBytes(config.maxBodyBytes),
    });
    return {
      server,
      serve: (fetch: (request: Request, server: Bun.Server<undefined>) => Response | Promise<Response>) => {
        handle = fetch;
      },
    };
  } catch (error) {
    if ((error as { code?: string }).code === "EADDRINUSE") {
      throw new StartupError(`port ${config.port} on ${config.host} is already in use (PORT)`);
    }
    throw error;
  }
};

/** The problem codes of the routes beyond the edge's own: the domain's refusals, the read side's. */
export const problemTypes: readonly ProblemType[] = [
  ...domain.problemTypes,
  ...readSideProblemTypes,
  ...ledgerProblemTypes,
];

/** Wires the engine, the stores, the broker and the HTTP edge for one role, and starts listening. */
export const startService = async (config: Config, options: ServiceOptions = {}): Promise<Service> => {
  const role = options.role ?? "all";
  if (role === "edge") embeddedOnlyInOneProcess(config);
  const runsEdge = role !== "projector";
  const runsProjector = role !== "edge";
  const inThread = role === "all" && options.readSideThread === true && !options.projections;
  const { server, serve } = listen(config);

  const log = options.log ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  collectProcessMetrics(metrics);
  // Before the store and the app: the app mounts a span per request only while tracing is on.
  const tracingSettings = {
    endpoint: config.otlpEndpoint,
    role,
    thread: "main",
    sampler: { kind: config.tracesSampler, ratio: config.tracesSamplerArg },
    onError: (error: unknown) => log.warn({ err: error }, "tracing: spans could not be exported"),
  };
  await startTracing(tracingSettings);
  // Set once the engine and the relay exist: nothing is appended before.
  let wakeFeed = () => {};
  let wakeRelay = () => {};
  // Before the store: a SQLite file written before personal data was sealed is sealed as it is migrated.
  const privacy = await openPersonalData(config, domain.aggregates, (subjectId, field, why) =>
    log.warn({ subjectId, field, why }, "a sealed personal value does not open: it reads as erased"),
  );
  const openedStore = await openStore(config, {
    legacyPersonalData: privacy?.legacy,
    onBatch: (size) => {
      metrics.appendBatchSize.observe(size);
      // The relay and the feed go on for every request: not as part of the one whose write woke them.
      outsideRequests(() => {
        wakeRelay();
        wakeFeed();
      });
    },
    onStage: metrics.writeStages.observe,
    onMigration: (done, total) =>
      log.info(
        { done, total },
        `migrating the event store to its current format: ${done} of ${total} events`,
      ),
    // Once per episode: while it lasts, every write fails alike and is answered 503.
    onWritable: (cause) =>
      cause
        ? log.error({ cause }, "the event store cannot write; writes are refused with 503 until it can")
        : log.info("the event store writes again"),
  });
  const engine = createEngine({
    config,
    store: openedStore,
    metrics,
    log,
    aggregates: domain.aggregates,
    processManagers: domain.processes,
    personalData: privacy?.personalData,
  });
  // Events are read through the engine's store from here on: in their current shape.
  const { store } = engine;
  wakeFeed = () => engine.feed.wake();
  const readiness: ReadinessCheck[] = [{ name: "eventStore", check: () => store.ping() }];
  const eventLogRoutes = runsEdge
    ? eventRoutes(engine.feed, {
        maxWaitMs: config.eventsMaxWaitMs,
        heartbeatMs: config.eventsHeartbeatMs,
        stallMs: config.eventsStallMs,
        idleTimeoutS: config.httpIdleTimeoutS,
      })
    : [];
  // The ledger reads the tree and the events as stored: the store as opened, not the upcasting one.
  let ledger: Ledger | undefined;
  if (runsEdge && !config.ledgerOff) {
    const key = await loadSigningKey(config.ledgerSigningKey, join(config.dataDir, "ledger-signing-key"));
    ledger = new Ledger(openedStore, key);
    await ledger.start(config.ledgerHeadIntervalMs, (error) =>
      log.warn(
        { err: error },
        "ledger: a tree head could not be signed; the next try is at the next interval",
      ),
    );
  }
  // Erasures made by another edge (its actors of the subject hold its data in memory), and any whose
  // event is not in the log yet (a crash between the key's destruction and the append): from the first.
  const { personalData } = engine;
  const erasures =
    privacy && personalData && runsEdge
      ? watchErasures(
          privacy.keys,
          async (records) => {
            for (const record of records) {
              forgetSubject({ ...engine, personalData }, record.subjectId);
              const id = Bun.randomUUIDv7();
              await recordErasure(engine.store, record, {
                commandId: id,
                correlationId: id,
                causationId: id,
              });
            }
          },
          {
            everyMs: 1_000,
            after: "",
            onError: (error) =>
              log.warn({ err: error }, "erasures could not be read or recorded; tried again"),
          },
        )
      : undefined;
  let sideRoutes: RouteGroups = { read: [], admin: [] };

  // The read side: here (the projector role, or `all` on one event loop), on a thread of its own
  // (`all`, by default with npm start), or, for the edge role, only the read models it reads.
  let readSide: ReadSide | undefined;
  let part: ReadSidePart | undefined;
  let thread: ReadSideThread | undefined;
  if (inThread) {
    const running = await ReadSideThread.start(config, (error) => {
      log.error({ err: error }, "the read side's thread stopped: the service must be restarted");
      options.onReadSideLost?.(error);
    });
    thread = running;
    readiness.push(...running.readiness);
    const shapes = readSideRouteShapes(config);
    sideRoutes = { read: running.routes(shapes.read), admin: running.routes(shapes.admin) };
    wakeRelay = () => running.wake();
  } else if (runsProjector) {
    part = await startReadSidePart({
      config,
      storeAsOpened: openedStore,
      engine,
      metrics,
      log,
      projections: options.projections,
    });
    readiness.push(...part.readiness);
    sideRoutes = part.routes;
    const { relay } = part;
    wakeRelay = () => relay.wake();
  } else {
    readSide = await createReadSide(config, { writes: false, onError: readStoreTrouble(log) });
    readiness.push(...readSide.readiness);
    sideRoutes = { read: readSide.routes, admin: [] };
  }

  observeLabelledGauge(
    metrics,
    "eventfold_event_consumers",
    "Consumers following the event log now: Server-Sent Events streams, and long polls in flight",
    "kind",
    async () => ({ stream: engine.feed.consumers.streams, poll: engine.feed.consumers.polls }),
  );
  observeCounter(
    metrics,
    "eventfold_event_streams_cut_off_total",
    "Event streams disconnected since start because their consumer stopped taking what was sent",
    () => engine.feed.consumers.cutOff,
  );
  // The edge serves what reads the read models; the projector role only what steers the projections.
  const routes: HttpRoute[] = runsEdge
    ? [
        ...domain.routes,
        ...sideRoutes.read,
        ...eventLogRoutes,
        ...(ledger ? ledgerRoutes(ledger) : []),
        ...erasureRoutes(engine, log),
        ...sideRoutes.admin,
      ]
    : [...sideRoutes.admin];
  const app = createApp(engine, {
    readiness,
    routes,
    problemTypes,
    checkResponses: config.checkResponses,
    moreMetrics: thread?.metrics.bind(thread),
  });
  // The operations console goes with the admin API it calls: not on an edge alone, which has none.
  if (sideRoutes.admin.length > 0) mountConsole(app);
  serve(app.fetch);
  const url = `http://127.0.0.1:${server.port}`;

  if (config.apiKeys)
    log.info({ keys: config.apiKeys.map((k) => ({ name: k.name, role: k.role })) }, "auth is on");
  else log.warn("auth is OFF: EVENTFOLD_API_KEYS is not set, every route is open");
  const resumed = runsEdge ? await resumeProcesses(engine) : 0;
  log.info(
    {
      url,
      role,
      store: store.name,
      broker: part?.broker.name ?? thread?.started.broker,
      hotLookup: part?.hotLookup ?? thread?.started.hotLookup ?? readSide?.hot.name,
      readSide: thread ? "own thread" : part ? "this event loop" : "read models only",
      tracing: config.otlpEndpoint ? "otlp" : "off",
      resumed,
    },
    "eventfold is serving",
  );

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log.info("draining");
      // Event streams do not end by themselves: a graceful stop would wait for them for ever.
      engine.feed.close();
      ledger?.stop();
      erasures?.stop();
      await server.stop(false);
      await drainEngine(engine);
      await part?.stop();
      await thread?.stop();
      await readSide?.close();
      await store.close();
      await privacy?.keys.close();
      // Last: the spans of everything above are exported before the process goes.
      await stopTracing(tracingSettings);
      log.info("stopped");
    })();
    return stopping;
  };
  return {
    url,
    role,
    engine,
    projector: part?.projector,
    relay: part?.relay,
    broker: part?.broker,
    fetch: app.fetch,
    stop,
  };
};
