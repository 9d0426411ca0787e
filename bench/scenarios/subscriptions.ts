/**
 * Scenario 8: catch-up subscriptions. A store of `subscriptionEvents` account events (written straight
 * through the store port, the relay's checkpoint set past them so that the projections stay idle), then:
 * one SSE consumer reading it all from position 0; a live consumer's delay from commit to receipt while
 * deposits trickle in; deposits at saturation with and without 100 live consumers; and a consumer that
 * stops reading, with the server's RSS sampled until it is cut off.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { progressBar } from "../../src/cli/progress.ts";
import type { NewEvent } from "../../src/store/envelope.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Bench } from "../lib/context.ts";
import { percentile } from "../lib/lag.ts";
import type { SubscriptionResult } from "../lib/results.ts";
import { counterTotal, metricsOf } from "../lib/sampler.ts";
import { startEventfold } from "../lib/servers.ts";
import { runWrk, throughput } from "../lib/wrk.ts";

const prefix = "sub-";
const eventsPerAccount = 1_000;
const meta = { commandId: "bench", correlationId: "bench", causationId: "bench" };

/** Accounts of `eventsPerAccount` events each (an opening, then deposits), as the domain writes them. */
const fill = async (path: string, events: number) => {
  const store = new SqliteStore({ path });
  const accounts = Math.ceil(events / eventsPerAccount);
  const bar = progressBar("subscriptions: writing events");
  let written = 0;
  const writeAccount = async (i: number) => {
    const id = `${prefix}${i}`;
    let version = 0;
    while (version < eventsPerAccount) {
      const batch: NewEvent[] = [];
      for (let n = 0; n < 100 && version + n < eventsPerAccount; n++) {
        const v = version + n + 1;
        batch.push({
          eventId: Bun.randomUUIDv7(),
          type: v === 1 ? "AccountOpened" : "MoneyDeposited",
          schemaVersion: 1,
          data:
            v === 1
              ? { owner: id, currency: "EUR" }
              : { amount: 100, balance: (v - 1) * 100, currency: "EUR" },
          metadata: meta,
        });
      }
      const result = await store.append({
        streamId: `account-${id}`,
        aggregateType: "account",
        expectedVersion: version,
        events: batch,
      });
      if (!result.ok) throw new Error(`the bench store refused an append: ${result.reason}`);
      version += batch.length;
      written += batch.length;
      bar.update(written, accounts * eventsPerAccount);
    }
  };
  for (let i = 0; i < accounts; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, accounts - i) }, (_, k) => writeAccount(i + k)));
  }
  bar.finish();
  // The projections are not what this scenario measures: the relay starts past these events.
  await store.saveCheckpoint("outbox-relay", String(await store.headPosition()));
  await store.close();
  return accounts;
};

/** Reads a stream from `after` until `caught-up`; counts its events without parsing them. */
const catchUp = async (url: string) => {
  const response = await fetch(`${url}/v1/events/stream?after=0`);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let events = 0;
  let carry = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error("the stream ended before caught-up");
    const text = carry + decoder.decode(value, { stream: true });
    for (let at = text.indexOf("\nid: "); at !== -1; at = text.indexOf("\nid: ", at + 1)) events++;
    if (text.includes("event: caught-up")) break;
    // Enough to find a marker cut in two, and not counted twice (it starts with a line end).
    carry = text.slice(-4);
  }
  await reader.cancel();
  return events;
};

/** A live consumer that notes, for each event it receives, how long after its commit that was. */
const liveConsumer = async (url: string, after: number) => {
  const controller = new AbortController();
  const response = await fetch(`${url}/v1/events/stream?after=${after}`, { signal: controller.signal });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const delaysMs: number[] = [];
  const reading = (async () => {
    let buffer = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        const now = Date.now();
        buffer += decoder.decode(value, { stream: true });
        const frames = buffer.split("\n\n");
        buffer = frames.pop() ?? "";
        for (const frame of frames) {
          const data = /\ndata: (.*)$/.exec(frame)?.[1];
          if (!frame.startsWith("id: ") && !frame.startsWith("retry: ")) continue;
          if (data === undefined) continue;
          delaysMs.push(now - Date.parse((JSON.parse(data) as { time: string }).time));
        }
      }
    } catch {
      // Aborted at the end.
    }
  })();
  return {
    delaysMs,
    stop: async () => {
      controller.abort();
      await reading;
    },
  };
};

/** A consumer that takes everything the server sends and does nothing with it (as cheap as one can be). */
const rawConsumer = (port: number, path: string, read: boolean): Socket => {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => {});
  socket.write(`GET ${path} HTTP/1.1\r\nHost: bench\r\n\r\n`);
  if (read) socket.on("data", () => {});
  else socket.pause();
  return socket;
};

/** The position of the last stored event, read a page at a time from `from` on. */
const headOf = async (url: string, from: number): Promise<number> => {
  for (let after = from; ; ) {
    const page = (await (await fetch(`${url}/v1/events?after=${after}&limit=1000`)).json()) as {
      events: unknown[];
      next: number;
    };
    if (page.events.length === 0) return page.next;
    after = page.next;
  }
};

const deposit = (url: string, account: string) =>
  fetch(`${url}/v1/accounts/${account}/deposits`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: '{"amount":1}',
  }).then((r) => r.arrayBuffer());

export const measureSubscriptions = async ({ plan, log, nextPort }: Bench): Promise<SubscriptionResult> => {
  log(`\nsubscriptions: ${plan.subscriptionEvents.toLocaleString("en")} stored events, then consumers`);
  const dataDir = mkdtempSync(join(tmpdir(), "eventfold-bench-subscriptions-"));
  try {
    const accounts = await fill(join(dataDir, "events.sqlite"), plan.subscriptionEvents);
    const server = await startEventfold("embedded", nextPort(), {
      EVENTFOLD_DATA_DIR: dataDir,
      EVENTFOLD_MAX_ACTORS: String(accounts * 2),
    });
    const port = Number(new URL(server.url).port);
    try {
      // 1. Catch-up from position 0 by one consumer.
      const started = performance.now();
      const caughtUp = await catchUp(server.url);
      const catchUpSeconds = (performance.now() - started) / 1000;
      const catchUpRate = caughtUp / catchUpSeconds;
      log(
        `  catch-up: ${caughtUp} events in ${catchUpSeconds.toFixed(1)} s: ${catchUpRate.toFixed(0)} events/s`,
      );

      // 2. A live consumer's delay, deposits paced at about 200/s.
      const live = await liveConsumer(server.url, plan.subscriptionEvents);
      for (let i = 0; i < plan.liveSamples; i++) {
        await deposit(server.url, `${prefix}${i % accounts}`);
        await Bun.sleep(5);
      }
      const settle = performance.now();
      while (live.delaysMs.length < plan.liveSamples && performance.now() - settle < 5_000)
        await Bun.sleep(20);
      await live.stop();
      const liveP50 = percentile(live.delaysMs, 50) ?? Number.NaN;
      const liveP99 = percentile(live.delaysMs, 99) ?? Number.NaN;
      log(`  live: ${live.delaysMs.length} events, commit to receipt p50 ${liveP50} ms, p99 ${liveP99} ms`);

      // 3. Deposits flat out, without consumers, with 100 live ones, and without again.
      const depositsFor = async (label: string) => {
        const result = await runWrk({
          url: server.url,
          scenario: "deposits",
          accounts,
          prefix,
          seconds: plan.seconds,
          connections: plan.connections,
        });
        const rps = throughput(result);
        log(`  deposits ${label}: ${rps.toFixed(0)} req/s (CPU stolen ${result.cpu?.stealPct.toFixed(1)}%)`);
        return rps;
      };
      await depositsFor("(warm-up)");
      const alone = await depositsFor("without consumers");
      const head = await headOf(server.url, plan.subscriptionEvents);
      const consumers = Array.from({ length: 100 }, () =>
        rawConsumer(port, `/v1/events/stream?after=${head}`, true),
      );
      const withConsumers = await depositsFor("with 100 consumers");
      for (const socket of consumers) socket.destroy();
      const aloneAgain = await depositsFor("without consumers, again");

      // 4. A consumer that asks for everything and reads nothing, until it is cut off.
      const before = server.rss();
      let peak = before;
      const cutOffBefore = counterTotal(await metricsOf(server.url), "eventfold_event_streams_cut_off_total");
      const stalled = rawConsumer(port, "/v1/events/stream?after=0", false);
      const stallStarted = performance.now();
      let cutOff = false;
      while (!cutOff && performance.now() - stallStarted < 120_000) {
        await Bun.sleep(100);
        peak = Math.max(peak, server.rss());
        cutOff =
          counterTotal(await metricsOf(server.url), "eventfold_event_streams_cut_off_total") > cutOffBefore;
      }
      stalled.destroy();
      const cutOffSeconds = (performance.now() - stallStarted) / 1000;
      log(
        `  a consumer that stops reading: ${cutOff ? `cut off after ${cutOffSeconds.toFixed(1)} s` : "not cut off"}, ` +
          `RSS +${((peak - before) / 2 ** 20).toFixed(1)} MiB at most`,
      );
      return {
        events: plan.subscriptionEvents,
        catchUpEventsPerSecond: catchUpRate,
        liveSamples: live.delaysMs.length,
        liveP50Ms: liveP50,
        liveP99Ms: liveP99,
        depositsAlone: (alone + aloneAgain) / 2,
        depositsWith100Consumers: withConsumers,
        stalledCutOff: cutOff,
        stalledCutOffSeconds: cutOffSeconds,
        stalledRssGrowthBytes: peak - before,
      };
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
};
