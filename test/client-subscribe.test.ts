/**
 * `subscribe` of `@eventfold/client` against a real service: what a consumer holds is compared with
 * what the store holds, event by event.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  createEventfoldClient,
  type EventEnvelope,
  type EventfoldClient,
  memoryCheckpoint,
  type SubscribeOptions,
  SubscriptionError,
} from "../packages/client/src/index.ts";
import { pollUntil } from "../src/lib/poll.ts";
import { quiesce, readEverything, runWorkload } from "./support/read-side.ts";
import { startTestService, type TestService, tempDir } from "./support/service.ts";
import { freePort } from "./support/subprocess.ts";

const positions = (events: readonly { position: number }[]) => events.map((e) => e.position);

/** A subscription that keeps what it is handed, and how many handlers ever ran at once. */
const collect = (api: EventfoldClient, options: Omit<SubscribeOptions, "handle"> & { fail?: number }) => {
  const events: EventEnvelope[] = [];
  let running = 0;
  let mostAtOnce = 0;
  let failed = false;
  const subscription = api.subscribe({
    ...options,
    handle: async (event) => {
      running += 1;
      mostAtOnce = Math.max(mostAtOnce, running);
      // A handler that awaits: the next event must wait for it.
      await Bun.sleep(0);
      running -= 1;
      if (!failed && event.position === options.fail) {
        failed = true;
        throw new Error("the read model is down");
      }
      events.push(event);
    },
  });
  return { subscription, events, mostAtOnce: () => mostAtOnce };
};

/** Resolves once `read()` holds `count` events; fails the test with what it holds otherwise. */
const holding = async (read: () => readonly EventEnvelope[], count: number, timeoutMs = 30_000) => {
  const held = await pollUntil(read, (events) => events.length >= count, { timeoutMs });
  expect(held?.length ?? read().length).toBe(count);
};

describe("subscribe", () => {
  let service: TestService;
  let api: EventfoldClient;
  beforeAll(async () => {
    service = await startTestService();
    api = createEventfoldClient({ baseUrl: service.url });
  });
  afterAll(() => service.dispose());

  test("two consumers with different filters each get their events once, in order, while commands arrive", async () => {
    const deposits = collect(api, {
      filters: { aggregateType: "account", type: "MoneyDeposited" },
      checkpoint: memoryCheckpoint(),
    });
    const transfers = collect(api, {
      filters: { aggregateType: "transfer" },
      checkpoint: memoryCheckpoint(),
    });
    const workload = await runWorkload(api, {
      prefix: "filters",
      accounts: 12,
      commands: 400,
      concurrency: 8,
    });
    await quiesce(api, service.engine.store, workload);
    const stored = await readEverything(service.engine.store);
    const wantedDeposits = stored.filter((e) => e.aggregateType === "account" && e.type === "MoneyDeposited");
    const wantedTransfers = stored.filter((e) => e.aggregateType === "transfer");
    expect(wantedDeposits.length).toBeGreaterThan(50);
    expect(wantedTransfers.length).toBeGreaterThan(50);
    await holding(() => deposits.events, wantedDeposits.length);
    await holding(() => transfers.events, wantedTransfers.length);
    expect(positions(deposits.events)).toEqual(positions(wantedDeposits));
    expect(deposits.events.map((e) => e.eventId)).toEqual(wantedDeposits.map((e) => e.eventId));
    expect(positions(transfers.events)).toEqual(positions(wantedTransfers));
    expect([deposits.mostAtOnce(), transfers.mostAtOnce()]).toEqual([1, 1]);
    for (const { subscription } of [deposits, transfers]) {
      expect(subscription.status()).toMatchObject({ caughtUp: true, reconnects: 0, connected: true });
      await subscription.stop();
      expect(subscription.status().connected).toBe(false);
    }
  }, 90_000);

  test("a handler that throws stops at that event, and a new subscription resumes there", async () => {
    const stored = await readEverything(service.engine.store);
    const failing = stored[4] as EventEnvelope;
    const checkpoint = memoryCheckpoint();
    const first = collect(api, { checkpoint, fail: failing.position });
    const error = await first.subscription.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SubscriptionError);
    expect((error as SubscriptionError).event?.eventId).toBe(failing.eventId);
    expect(positions(first.events)).toEqual(positions(stored.slice(0, 4)));
    expect(checkpoint.position).toBe(stored[3]?.position);

    const again = collect(api, { checkpoint });
    await again.subscription.caughtUp;
    await again.subscription.stop();
    expect(positions([...first.events, ...again.events])).toEqual(
      positions(await readEverything(service.engine.store)),
    );
  }, 30_000);

  test("a refusal stops it with the status and the problem", async () => {
    const refused = collect(api, {
      filters: { aggregateType: "not a name!" },
      checkpoint: memoryCheckpoint(),
    });
    const error = (await refused.subscription.done.catch((e: unknown) => e)) as SubscriptionError;
    expect(error).toBeInstanceOf(SubscriptionError);
    expect(error.status).toBe(400);
    expect(error.problem?.code).toBe("validation_failed");
    expect(await refused.subscription.caughtUp.catch((e: unknown) => e)).toBe(error);
  });

  test("an AbortSignal stops it: the event in hand is finished and kept, and no other is handed over", async () => {
    const stored = await readEverything(service.engine.store);
    const stopping = new AbortController();
    const checkpoint = memoryCheckpoint();
    const handed: number[] = [];
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let inHand: () => void = () => {};
    const holding = new Promise<void>((resolve) => {
      inHand = resolve;
    });
    const subscription = api.subscribe({
      checkpoint,
      signal: stopping.signal,
      handle: async (event) => {
        handed.push(event.position);
        inHand();
        await released;
      },
    });
    await holding;
    stopping.abort();
    release();
    await subscription.done;
    const first = (stored[0] as EventEnvelope).position;
    expect(handed).toEqual([first]);
    expect(checkpoint.position).toBe(first);
    expect(subscription.status()).toMatchObject({ handled: 1, connected: false });
    expect(await subscription.caughtUp.catch((e: unknown) => e)).toBeInstanceOf(SubscriptionError);
  });

  test("a filtered subscription keeps, at caught-up, how far the server read; it says its lag", async () => {
    const stored = await readEverything(service.engine.store);
    const checkpoint = memoryCheckpoint();
    const caughtUp: number[] = [];
    const opened = collect(api, {
      filters: { type: "AccountOpened" },
      checkpoint,
      onCaughtUp: (status) => caughtUp.push(status.position),
    });
    const status = await opened.subscription.caughtUp;
    await opened.subscription.stop();
    const head = stored.at(-1)?.position ?? 0;
    const lastOpened = stored.filter((e) => e.type === "AccountOpened").at(-1)?.position;
    expect(lastOpened).toBeLessThan(head);
    expect([status.position, checkpoint.position, caughtUp]).toEqual([head, head, [head]]);
    expect(positions(opened.events).at(-1) ?? 0).toBe(lastOpened ?? -1);
    // The events were stored before the subscription began: each was handled some time after.
    expect(status.lagMs).toBeGreaterThan(0);
  });
});

test("a subscription follows the service through a restart: every event once, in order", async () => {
  const port = freePort();
  const dataDir = tempDir();
  let service = await startTestService({ port, dataDir });
  const api = createEventfoldClient({ baseUrl: service.url });
  const reconnections: string[] = [];
  const follower = collect(api, {
    checkpoint: memoryCheckpoint(),
    maxRetryDelayMs: 500,
    onReconnect: ({ reason }) => reconnections.push(reason),
  });
  const before = await runWorkload(api, { prefix: "restart", accounts: 5, commands: 100, concurrency: 4 });
  await quiesce(api, service.engine.store, before);
  await service.stop();
  // The same service again: its data directory, and the read models' names, which quiesce reads.
  const { clickhouseDatabase, redisPrefix, amqpNamespace } = service.config;
  service = await startTestService({ port, dataDir, clickhouseDatabase, redisPrefix, amqpNamespace });
  const after = await runWorkload(api, { prefix: "restart-2", accounts: 5, commands: 100, concurrency: 4 });
  await quiesce(api, service.engine.store, after);
  const stored = await readEverything(service.engine.store);
  await holding(() => follower.events, stored.length);
  await follower.subscription.stop();
  await service.dispose();
  expect(positions(follower.events)).toEqual(positions(stored));
  // The stream ended when the service stopped; it came back on the same port and the stream went on.
  expect(reconnections[0]).toBe("the service ended the stream");
}, 120_000);

test("a connection that goes silent is given up after idleTimeoutMs and opened again where it was", async () => {
  // A network path that died without a word: the answer's head came, then nothing. The real service
  // cannot be made to do that, so a server of the test's own stands in for it.
  const requests: (string | null)[] = [];
  const silent = Bun.serve({
    port: 0,
    fetch: (request) => {
      requests.push(request.headers.get("Last-Event-ID"));
      return new Response(new ReadableStream({ pull: () => new Promise(() => {}) }), {
        headers: { "content-type": "text/event-stream" },
      });
    },
  });
  const reasons: string[] = [];
  const api = createEventfoldClient({ baseUrl: `http://127.0.0.1:${silent.port}` });
  const subscription = api.subscribe({
    checkpoint: memoryCheckpoint(41),
    handle: () => {},
    idleTimeoutMs: 200,
    maxRetryDelayMs: 50,
    onReconnect: ({ reason }) => reasons.push(reason),
  });
  await pollUntil(
    () => requests.length,
    (n) => n >= 2,
    { timeoutMs: 10_000 },
  );
  await subscription.stop();
  silent.stop(true);
  expect(requests.slice(0, 2)).toEqual(["41", "41"]);
  expect(reasons[0]).toBe("nothing received for 200 ms");
});

test("an answer to retry (503) is tried again after its Retry-After, then the stream's retry: holds", async () => {
  // The real service answers 503 only while it starts; a server of the test's own answers it on purpose.
  let requests = 0;
  const starting = Bun.serve({
    port: 0,
    fetch: () => {
      requests += 1;
      if (requests === 1) return new Response("starting", { status: 503, headers: { "Retry-After": "2" } });
      if (requests > 2) return new Response("overloaded", { status: 503 });
      // Then a stream that says its retry time, sends one event and ends; then 503s that say nothing.
      const body = `retry: 400\n\nid: 7\nevent: MoneyDeposited\ndata: ${JSON.stringify({ position: 7, type: "MoneyDeposited", time: new Date().toISOString() })}\n\n`;
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    },
  });
  const delays: { reason: string; delayMs: number }[] = [];
  const handed: number[] = [];
  const api = createEventfoldClient({ baseUrl: `http://127.0.0.1:${starting.port}` });
  const subscription = api.subscribe({
    checkpoint: memoryCheckpoint(),
    handle: (event) => {
      handed.push(event.position);
    },
    onReconnect: ({ reason, delayMs }) => delays.push({ reason, delayMs }),
  });
  await pollUntil(
    () => delays.length,
    (n) => n >= 3,
    { timeoutMs: 10_000 },
  );
  await subscription.stop();
  starting.stop(true);
  expect(handed).toEqual([7]);
  const [refused, ended, again] = delays;
  expect(refused?.reason).toBe("HTTP 503");
  // 2 s, less up to a quarter of jitter.
  expect(refused?.delayMs).toBeWithin(1_500, 2_001);
  expect(ended?.reason).toBe("the service ended the stream");
  // The stream's 400 ms, from the first attempt again: that connection handed an event over.
  expect(ended?.delayMs).toBeWithin(300, 401);
  // A 503 without Retry-After: the stream's 400 ms, doubled for a second attempt in a row with nothing.
  expect(again?.delayMs).toBeWithin(600, 801);
}, 20_000);
