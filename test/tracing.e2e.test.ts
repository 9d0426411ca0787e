import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ServiceOptions } from "../app/service.ts";
import { spawnService } from "../app/spawn.ts";
import { removeDeployment } from "../app/teardown.ts";
import type { Config } from "../src/config.ts";
import type { EventEnvelope } from "../src/store/envelope.ts";
import { client, eventually, openAccount } from "./support/http.ts";
import {
  clientTraceparent,
  type OtlpReceiver,
  type ReceivedSpan,
  spanKind,
  startOtlpReceiver,
} from "./support/otlp.ts";
import { fullStack } from "./support/read-side.ts";
import { describeWith } from "./support/servers.ts";
import { startTestService, tempDir } from "./support/service.ts";
import { freePort } from "./support/subprocess.ts";

interface Traced {
  /** The spans of the deposit's trace: the one its client started. */
  readonly trace: readonly ReceivedSpan[];
  /** Every span received, from any trace. */
  readonly all: readonly ReceivedSpan[];
  readonly client: { readonly traceId: string; readonly spanId: string };
  /** The deposit's event as the store keeps it. */
  readonly deposited: EventEnvelope;
}

/**
 * Opens an account and deposits into it, the deposit sent with a client's `traceparent`; waits until
 * both read models show it, stops the service (which exports what is left) and returns the spans.
 */
const depositTraced = async (
  receiver: OtlpReceiver,
  overrides: Partial<Config>,
  options: ServiceOptions,
): Promise<Traced> => {
  const service = await startTestService({ ...overrides, otlpEndpoint: receiver.url }, options);
  const id = `traced-${Date.now().toString(36)}`;
  let deposited: EventEnvelope | undefined;
  const sent = clientTraceparent();
  try {
    const api = client(service.url);
    // A new hot lookup in Redis is filled from the event store before it takes events.
    await eventually(
      () => api.get("/readyz"),
      (ready) => ready.status === 200,
    );
    await openAccount(api, id);
    const deposit = await api.post(
      `/v1/accounts/${id}/deposits`,
      { amount: 250 },
      { traceparent: sent.header },
    );
    expect(deposit.status).toBe(200);
    const read = await api.get<{ balance: number }>(`/v1/accounts/${id}?minVersion=2`);
    expect([read.status, read.body.balance]).toEqual([200, 250]);
    await eventually(
      () =>
        api.get<{ accounts: { accountId: string; balance: number }[] }>(
          "/v1/analytics/top-accounts?by=balance&limit=10",
        ),
      (top) => top.body.accounts?.some((a) => a.accountId === id && a.balance === 250) ?? false,
    );
    const events = await api.get<{ events: EventEnvelope[] }>(`/v1/accounts/${id}/events`);
    deposited = events.body.events.find((event) => event.type === "MoneyDeposited");
  } finally {
    await service.dispose();
    await removeDeployment(service.config);
  }
  if (!deposited) throw new Error("the deposit's event was not read back");
  return {
    trace: receiver.spans.filter((span) => span.traceId === sent.traceId),
    all: receiver.spans,
    client: sent,
    deposited,
  };
};

const one = (spans: readonly ReceivedSpan[], name: string): ReceivedSpan => {
  const found = spans.filter((span) => span.name === name);
  if (found.length !== 1) {
    throw new Error(`expected one span "${name}", found ${found.length} among ${spans.map((s) => s.name)}`);
  }
  return found[0] as ReceivedSpan;
};

/**
 * One trace, the client's, holds the request, the command, the append and both projections' work,
 * each the child of what caused it; the relay's publish is in it too, or links to it when the round
 * it went in was another command's.
 */
const expectOneJoinedTrace = ({ trace, all, client, deposited }: Traced, readSideThread: string) => {
  const request = one(trace, "POST /v1/accounts/:id/deposits");
  expect(request.parentSpanId).toBe(client.spanId);
  expect(request.kind).toBe(spanKind.server);
  expect(request.attributes["http.response.status_code"]).toBe(200);
  expect(request.resource).toMatchObject({
    "service.name": "eventfold",
    "eventfold.role": "all",
    "eventfold.thread": "main",
  });

  const command = one(trace, "command Deposit");
  expect(command.parentSpanId).toBe(request.spanId);
  expect(command.attributes).toMatchObject({
    "eventfold.aggregate.type": "account",
    "eventfold.command.outcome": "accepted",
    "eventfold.aggregate.version": 2,
  });
  // The event names the command's span as its cause: that is how everything after joins the trace.
  expect(deposited.metadata.traceparent).toBe(`00-${client.traceId}-${command.spanId}-01`);

  const append = one(trace, "store append");
  expect(append.parentSpanId).toBe(command.spanId);
  expect(append.attributes).toMatchObject({ "db.system.name": "sqlite", "eventfold.store.events": 1 });

  const publishes = all.filter(
    (span) =>
      span.name === "relay publish" &&
      (span.parentSpanId === command.spanId || span.links.some((link) => link.spanId === command.spanId)),
  );
  expect(publishes).toHaveLength(1);
  expect(publishes[0]?.kind).toBe(spanKind.producer);

  for (const projection of ["accounts", "analytics"]) {
    const apply = one(trace, `apply ${projection}`);
    expect(apply.parentSpanId).toBe(command.spanId);
    expect(apply.kind).toBe(spanKind.consumer);
    expect(apply.attributes["eventfold.projection"]).toBe(projection);
    expect(apply.resource["eventfold.thread"]).toBe(readSideThread);
    expect(apply.statusCode).not.toBe(2);
  }
};

describe("tracing, embedded (in-process broker, the read side on its thread)", () => {
  let receiver: OtlpReceiver;
  beforeAll(() => {
    receiver = startOtlpReceiver();
  });
  afterAll(() => receiver.stop());

  test("one trace holds the request, its command, the append, the publish and both projections' work", async () => {
    const traced = await depositTraced(receiver, {}, { readSideThread: true });
    expectOneJoinedTrace(traced, "read-side");
  }, 60_000);
});

describeWith(["RabbitMQ", "Redis"], "tracing across RabbitMQ (one event loop)", () => {
  let receiver: OtlpReceiver;
  beforeAll(() => {
    receiver = startOtlpReceiver();
  });
  afterAll(() => receiver.stop());

  test("the projections' spans join the request's trace through the broker's messages", async () => {
    const traced = await depositTraced(receiver, fullStack, {});
    expectOneJoinedTrace(traced, "main");
    const publish = traced.all.find((span) => span.name === "relay publish");
    expect(publish?.attributes["messaging.system"]).toBe("rabbitmq");
  }, 60_000);
});

describe("tracing off (OTEL_EXPORTER_OTLP_ENDPOINT unset)", () => {
  test("nothing is exported, no OpenTelemetry SDK module is loaded, and the client's traceparent is kept as sent", async () => {
    const receiver = startOtlpReceiver();
    const dataDir = tempDir();
    const modulesFile = join(dataDir, "modules.json");
    const server = await spawnService({
      port: freePort(),
      flags: ["--preload", "./test/support/loaded-modules.ts"],
      env: {
        EVENTFOLD_DATA_DIR: dataDir,
        // Everything on one event loop: one module registry holds every part that could trace.
        EVENTFOLD_READ_SIDE_THREAD: "0",
        EVENTFOLD_LOADED_MODULES_FILE: modulesFile,
        OTEL_EXPORTER_OTLP_ENDPOINT: "",
        // The exporter's own variables, set, turn nothing on by themselves.
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
        OTEL_SERVICE_NAME: "eventfold-untraced",
      },
    });
    try {
      const api = client(server.url);
      await openAccount(api, "untraced");
      const sent = clientTraceparent();
      const deposit = await api.post(
        "/v1/accounts/untraced/deposits",
        { amount: 5 },
        { traceparent: sent.header },
      );
      expect(deposit.status).toBe(200);
      await eventually(
        () => api.get<{ balance: number }>("/v1/accounts/untraced"),
        (read) => read.body.balance === 5,
      );
      const events = await api.get<{ events: EventEnvelope[] }>("/v1/accounts/untraced/events");
      expect(events.body.events.map((event) => event.metadata.traceparent)).toEqual([undefined, sent.header]);
    } finally {
      server.process.kill("SIGTERM");
      await server.exited;
      await receiver.stop();
    }
    const loaded = JSON.parse(readFileSync(modulesFile, "utf8")) as string[];
    rmSync(dataDir, { recursive: true, force: true });
    // The service did load its modules (the check sees them), and none of the SDK's.
    expect(loaded.some((path) => path.endsWith("src/relay/outbox-relay.ts"))).toBe(true);
    expect(loaded.filter((path) => /@opentelemetry\/(?!api\/)/.test(path))).toEqual([]);
    expect(loaded.some((path) => path.endsWith("src/observability/otlp-tracing.ts"))).toBe(false);
    expect(receiver.requests).toBe(0);
  }, 60_000);
});
