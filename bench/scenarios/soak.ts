/**
 * `npm run bench -- soak --minutes 60`: the full stack (RabbitMQ, Redis, chDB) under mixed commands at
 * half of their measured saturation, over many accounts, with a fault every few minutes that the bench
 * injects itself (kill -9 of the service and a restart, the broker's connections dropped, the Redis keys
 * flushed), measured in short segments; then an audit of what was acknowledged against the event log.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { type SpawnedService, spawnService } from "../../app/spawn.ts";
import { progressBar } from "../../src/cli/progress.ts";
import { type AuditResult, audit } from "../lib/audit.ts";
import type { Bench } from "../lib/context.ts";
import { percentile, probeRedisLag } from "../lib/lag.ts";
import { seedAccounts } from "../lib/seed.ts";
import { fullStackUrls, removeFullStackNames, rssOf, tracingEnv } from "../lib/servers.ts";
import { failures, pacedDelayMs, runWrk, throughput, type WrkRun } from "../lib/wrk.ts";

export type Fault = "kill -9 and restart" | "broker connections dropped" | "Redis keys flushed";
/** The faults by the short names `--faults` takes, in the order they are injected in turn. */
export const faultsByName: Readonly<Record<string, Fault>> = {
  kill: "kill -9 and restart",
  broker: "broker connections dropped",
  redis: "Redis keys flushed",
};

export interface SoakOptions {
  readonly minutes: number;
  readonly faultEveryMinutes: number;
  /** Injected in turn. */
  readonly faults: readonly Fault[];
  readonly accounts: number;
  readonly segmentSeconds: number;
}

export interface SoakSegment {
  /** Seconds from the start of the paced load to the end of this segment. */
  readonly atS: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /**
   * Connection errors, timeouts and answers of 400 and above (wrk does not tell them apart; the mix is
   * sized so that refusals are rare: accounts hold 10^9, withdrawals take at most 1 000).
   */
  readonly errors: number;
  readonly rssBytes: number;
  /** Redis documents: from a deposit's 2xx to its version being readable (ms), over the segment. */
  readonly lagP50Ms: number | null;
  readonly lagP99Ms: number | null;
  /** The fault injected at this segment's start, if any. */
  readonly fault?: Fault;
  /** After "Redis keys flushed": the hot lookup's rebuild from the event store, as the admin API reports it. */
  rebuild?: Rebuilt;
}

export interface Rebuilt {
  readonly events: number;
  readonly seconds: number;
}

export interface SoakResult {
  readonly options: SoakOptions;
  readonly saturationRps: number;
  readonly targetRps: number;
  readonly segments: SoakSegment[];
  /** p99 before the first fault (median of the segments after the first minute). */
  readonly baselineP99Ms: number;
  /** Per fault: seconds from its injection until a segment's p99 was back within 1.5× the baseline. */
  readonly recoveries: { fault: Fault; atS: number; recoveredAfterS: number | null; rebuild?: Rebuilt }[];
  /** RSS at ten minutes (or the first segment after a restart past it), and the most it was after. */
  readonly rssAtTenMinutes: number;
  readonly rssMaxAfter: number;
  readonly audit: AuditResult;
}

/** The hot lookup's rebuild that began after `since`, once it has finished. */
const rebuildSince = async (url: string, since: Date): Promise<Rebuilt | undefined> => {
  const response = await fetch(`${url}/v1/admin/projections`).catch(() => undefined);
  if (!response?.ok) return undefined;
  const { projections } = (await response.json()) as {
    projections: { name: string; rebuild?: { total: number; startedAt: string; finishedAt?: string } }[];
  };
  const rebuild = projections.find((p) => p.name === "accounts")?.rebuild;
  if (!rebuild?.finishedAt || Date.parse(rebuild.startedAt) < since.getTime()) return undefined;
  return {
    events: rebuild.total,
    seconds: (Date.parse(rebuild.finishedAt) - Date.parse(rebuild.startedAt)) / 1000,
  };
};

const prefix = "s-";
const probeAccount = "soak-probe";

/** The service with a fixed data directory and names, so that it can be killed and started again. */
const restartable = async (bench: Bench, accounts: number) => {
  const port = bench.nextPort();
  const dataDir = mkdtempSync(join(tmpdir(), "eventfold-soak-"));
  const namespace = `soak_${process.pid}_${port}`;
  const env = {
    EVENTFOLD_DATA_DIR: dataDir,
    EVENTFOLD_AMQP_NAMESPACE: namespace,
    EVENTFOLD_REDIS_PREFIX: `${namespace}:`,
    EVENTFOLD_CLICKHOUSE_DATABASE: namespace,
    EVENTFOLD_MAX_ACTORS: String(accounts * 2),
    AMQP_URL: fullStackUrls.amqp,
    REDIS_URL: fullStackUrls.redis,
    MONGO_URL: "",
    ...tracingEnv(),
  };
  const start = () => spawnService({ port, env, readyPath: "/readyz", timeoutMs: 120_000, stdout: "ignore" });
  let current: SpawnedService = await start();
  return {
    url: current.url,
    dataDir,
    redisPrefix: `${namespace}:`,
    rss: () => rssOf(current.process.pid),
    kill9AndRestart: async () => {
      current.process.kill(9);
      await current.exited;
      current = await start();
    },
    stop: async () => {
      current.process.kill("SIGTERM");
      await current.exited;
      rmSync(dataDir, { recursive: true, force: true });
      await removeFullStackNames(namespace);
    },
  };
};

const dropBrokerConnections = async () => {
  const closing = Bun.spawn(["rabbitmqctl", "close_all_connections", "eventfold soak fault"], {
    stdout: "ignore",
    stderr: "inherit",
  });
  if ((await closing.exited) !== 0) throw new Error("rabbitmqctl close_all_connections failed");
};

const flushRedisKeys = async (keyPrefix: string) => {
  const redis = new Redis(fullStackUrls.redis);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 10_000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
};

/** Waits until every stored event has reached both read models: transfers finished, counts equal. */
const settle = async (url: string, log: (message: string) => void) => {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const outbox = Number(/^eventfold_outbox_lag_events (\S+)$/m.exec(metrics)?.[1] ?? "0");
    const queued = [...metrics.matchAll(/^eventfold_projection_queued_events\{[^}]*\} (\S+)$/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    if (outbox === 0 && queued === 0) return;
    if (Date.now() > deadline)
      throw new Error(`the read side did not catch up: outbox ${outbox}, queued ${queued}`);
    log(`  settling: ${outbox} events to publish, ${queued} queued for the projections`);
    await Bun.sleep(2_000);
  }
};

export const runSoak = async (bench: Bench, options: SoakOptions, ackDir: string): Promise<SoakResult> => {
  const { log } = bench;
  mkdirSync(ackDir, { recursive: true });
  log(
    `soak: ${options.minutes} min, a fault every ${options.faultEveryMinutes} min, ${options.accounts} accounts`,
  );
  const server = await restartable(bench, options.accounts);
  try {
    await seedAccounts(server.url, prefix, options.accounts, {
      open: progressBar(`soak: opening ${options.accounts} accounts`),
      fund: progressBar("soak: funding them"),
    });
    await fetch(`${server.url}/v1/accounts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ accountId: probeAccount, owner: "bench", currency: "EUR" }),
    });
    const base: Omit<WrkRun, "seconds" | "connections"> = {
      url: server.url,
      scenario: "soak",
      accounts: options.accounts,
      prefix,
    };
    let run = 0;
    const acks = () => ({ runId: String(++run), dir: ackDir });
    const saturation = await runWrk({ ...base, seconds: 10, connections: 64, acks: acks() });
    const targetRps = throughput(saturation) / 2;
    let delayMs = pacedDelayMs(32, targetRps);
    for (let step = 0; step < 2; step++) {
      const probe = await runWrk({ ...base, seconds: 3, connections: 32, delayMs, acks: acks() });
      delayMs = pacedDelayMs(32, targetRps, { delayMs, rps: throughput(probe) });
    }
    log(
      `soak: saturation ${Math.round(throughput(saturation))} req/s; paced at ${Math.round(targetRps)} req/s`,
    );

    const segments: SoakSegment[] = [];
    const started = performance.now();
    const totalS = options.minutes * 60;
    let nextFaultS = options.faultEveryMinutes * 60;
    let faultIndex = 0;
    let rebuilding: { since: Date; segment: SoakSegment | undefined } | undefined;
    let injectedAt = new Date();
    const bar = progressBar("soak");
    while ((performance.now() - started) / 1000 < totalS) {
      const elapsed = (performance.now() - started) / 1000;
      let fault: Fault | undefined;
      if (elapsed >= nextFaultS) {
        fault = options.faults[faultIndex++ % options.faults.length];
        nextFaultS += options.faultEveryMinutes * 60;
      }
      const lag = probeRedisLag(server.url, probeAccount, 200);
      const load = runWrk({
        ...base,
        seconds: options.segmentSeconds,
        connections: 32,
        delayMs,
        acks: acks(),
      });
      if (fault) {
        // Into the running segment, so that the segment shows what the fault did to the load.
        await Bun.sleep(500);
        log(`\nsoak: at ${Math.round(elapsed)} s: ${fault}`);
        injectedAt = new Date();
        if (fault === "kill -9 and restart") await server.kill9AndRestart();
        else if (fault === "broker connections dropped") await dropBrokerConnections();
        else await flushRedisKeys(server.redisPrefix);
      }
      const result = await load;
      const lags = await lag.stop();
      const atS = (performance.now() - started) / 1000;
      segments.push({
        atS: Math.round(atS),
        rps: Math.round(throughput(result)),
        p50Ms: result.latencyUs.p50 / 1000,
        p99Ms: result.latencyUs.p99 / 1000,
        errors: failures(result),
        rssBytes: server.rss(),
        lagP50Ms: percentile(lags, 50),
        lagP99Ms: percentile(lags, 99),
        ...(fault ? { fault } : {}),
      });
      if (fault === "Redis keys flushed") rebuilding = { since: injectedAt, segment: segments.at(-1) };
      if (rebuilding?.segment) {
        const rebuilt = await rebuildSince(server.url, rebuilding.since);
        if (rebuilt) {
          rebuilding.segment.rebuild = rebuilt;
          rebuilding = undefined;
        }
      }
      bar.update(Math.min(totalS, Math.round(atS)), totalS);
    }
    bar.finish();

    log("soak: the load is over; waiting for the read side to take every event");
    await settle(server.url, log);
    const result = audit(server.url, ackDir);
    return summarize(options, throughput(saturation), targetRps, segments, await result);
  } finally {
    await server.stop();
  }
};

const summarize = (
  options: SoakOptions,
  saturationRps: number,
  targetRps: number,
  segments: SoakSegment[],
  auditResult: AuditResult,
): SoakResult => {
  const firstFault = segments.findIndex((s) => s.fault);
  const calm = segments.slice(0, firstFault === -1 ? undefined : firstFault).filter((s) => s.atS > 60);
  const baselineP99Ms = percentile(
    (calm.length > 0 ? calm : segments).map((s) => s.p99Ms),
    50,
  ) as number;
  const recoveries = segments.flatMap((s, i) => {
    if (!s.fault) return [];
    const startS = s.atS - options.segmentSeconds;
    const back = segments.slice(i).find((later) => later.p99Ms <= baselineP99Ms * 1.5);
    return [
      {
        fault: s.fault,
        atS: startS,
        recoveredAfterS: back ? back.atS - startS : null,
        ...(s.rebuild ? { rebuild: s.rebuild } : {}),
      },
    ];
  });
  const afterTen = segments.filter((s) => s.atS >= 600 && s.rssBytes > 0);
  return {
    options,
    saturationRps: Math.round(saturationRps),
    targetRps: Math.round(targetRps),
    segments,
    baselineP99Ms,
    recoveries,
    rssAtTenMinutes: afterTen[0]?.rssBytes ?? 0,
    rssMaxAfter: Math.max(0, ...afterTen.map((s) => s.rssBytes)),
    audit: auditResult,
  };
};
