/**
 * The read side's thread (`EVENTFOLD_READ_SIDE_THREAD`): the relay, the broker, the projections and
 * the read models, on an event loop of their own, over a connection of their own to the event store.
 * The edge's event loop then serves only HTTP and the actors; it sends this thread the read routes'
 * validated requests, readiness checks and scrapes, and a wake-up after each durable batch.
 */
import { domain } from "../actors/index.ts";
import type { Config } from "../src/config.ts";
import { createEngine } from "../src/engine.ts";
import type { ReadinessCheck } from "../src/http/app.ts";
import { type RouteCaller, routeServer } from "../src/http/remote-routes.ts";
import { errorMessage, StartupError } from "../src/lib/errors.ts";
import { createLogger } from "../src/observability/log.ts";
import { createMetrics } from "../src/observability/metrics.ts";
import { startTracing, stopTracing } from "../src/observability/tracing.ts";
import { openPersonalData } from "../src/privacy/open.ts";
import { openStore } from "../src/store/open.ts";
import { type ReadSidePart, startReadSidePart } from "./read-side.ts";
import type { Answer, FromReadSide, ToReadSide } from "./read-side-protocol.ts";

declare const self: Worker;

const say = (message: FromReadSide) => self.postMessage(message);

let part: ReadSidePart | undefined;
let serve: RouteCaller | undefined;
let checks = new Map<string, ReadinessCheck>();
let scrape: (() => Promise<unknown[]>) | undefined;
let close: (() => Promise<void>) | undefined;
const calls = new Map<number, AbortController>();

const start = async (config: Config) => {
  const log = createLogger(config.logLevel).child({ thread: "read-side" });
  const metrics = createMetrics("read-side");
  // Its own: a thread shares no tracer with the edge's event loop. Its spans join the requests'
  // traces through the contexts the events carry.
  const tracingSettings = {
    endpoint: config.otlpEndpoint,
    role: "all",
    thread: "read-side",
    sampler: { kind: config.tracesSampler, ratio: config.tracesSamplerArg },
    onError: (error: unknown) => log.warn({ err: error }, "tracing: spans could not be exported"),
  };
  await startTracing(tracingSettings);
  const storeAsOpened = await openStore(config, {
    onBatch: (size) => metrics.appendBatchSize.observe(size),
    onStage: metrics.writeStages.observe,
    // Its writes are checkpoints and leases; a disk that refuses them is said here, once per episode.
    onWritable: (cause) =>
      cause
        ? log.error({ cause }, "the event store cannot write the relay's progress")
        : log.info("the event store writes the relay's progress again"),
    secondary: true,
  });
  const privacy = await openPersonalData(config, domain.aggregates, (subjectId, field, why) =>
    log.warn({ subjectId, field, why }, "a sealed personal value does not open: it reads as erased"),
  );
  const engine = createEngine({
    config,
    store: storeAsOpened,
    metrics,
    log,
    aggregates: domain.aggregates,
    processManagers: domain.processes,
    personalData: privacy?.personalData,
  });
  part = await startReadSidePart({ config, storeAsOpened, engine, metrics, log });
  // Only the unexpected is logged, as the edge does in-process; the edge says its own line too.
  serve = routeServer([...part.routes.read, ...part.routes.admin], engine.api, (error, reply) => {
    if (reply.status === 500) log.error({ err: error }, "a read route failed");
  });
  checks = new Map(part.readiness.map((check) => [check.name, check]));
  scrape = () => metrics.registry.getMetricsAsJSON() as Promise<unknown[]>;
  const running = part;
  close = async () => {
    await running.stop();
    await engine.store.close();
    await privacy?.keys.close();
    await stopTracing(tracingSettings);
  };
  say({
    kind: "started",
    readiness: part.readiness.map(({ name, required }) => ({ name, required })),
    hotLookup: part.hotLookup,
    broker: part.broker.name,
  });
};

const answer = async (id: number, work: () => Promise<Answer>) => {
  try {
    say({ kind: "answer", id, ok: true, value: await work() });
  } catch (error) {
    say({ kind: "answer", id, ok: false, message: errorMessage(error) });
  }
};

self.onmessage = (event: MessageEvent<ToReadSide>) => {
  const message = event.data;
  switch (message.kind) {
    case "start":
      start(message.config).catch((error: unknown) =>
        say({
          kind: "failed",
          message: errorMessage(error),
          stack: error instanceof Error ? error.stack : undefined,
          startup: error instanceof StartupError,
        }),
      );
      return;
    case "wake":
      part?.relay.wake();
      return;
    case "call": {
      const controller = new AbortController();
      calls.set(message.id, controller);
      answer(message.id, async () => {
        if (!serve) throw new Error("the read side is not started");
        return serve(message.call, controller.signal);
      }).finally(() => calls.delete(message.id));
      return;
    }
    case "cancel":
      calls.get(message.id)?.abort();
      return;
    case "ready":
      answer(message.id, async () => {
        const check = checks.get(message.name);
        if (!check) throw new Error(`no readiness check ${message.name} on the read side`);
        await check.check();
        return null;
      });
      return;
    case "metrics":
      answer(message.id, async () => (scrape ? await scrape() : []));
      return;
    case "stop":
      answer(message.id, async () => {
        await close?.();
        return null;
      });
      return;
  }
};
