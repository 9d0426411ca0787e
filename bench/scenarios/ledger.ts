/**
 * The ledger stage (`npm run bench -- --ledger`): what the Merkle tree and the sealing of personal data
 * cost the write path, and how fast the ledger is checked and a person erased.
 * - Deposits with a free-text reference (personal data, so sealed), at saturation, on embedded servers
 *   with the tree and sealing on, and off (`EVENTFOLD_LEDGER_OFF=1`, `EVENTFOLD_PERSONAL_DATA_PLAIN=1`),
 *   in three turns (off then on, on then off, off then on), so that the machine's drift falls on both
 *   alike.
 * - `ledger verify` over the store the last "on" run wrote: events per second.
 * - Erasures on that server: the route's latency, and until the hot lookup shows the owner erased.
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { progressBar } from "../../src/cli/progress.ts";
import { verifyLedger } from "../../src/ledger/verify.ts";
import { openVerifySource } from "../../src/store/sqlite/ledger.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Bench } from "../lib/context.ts";
import { percentile } from "../lib/lag.ts";
import { loadAccountPrefix } from "../lib/load.ts";
import { seedAccounts } from "../lib/seed.ts";
import { startEventfold } from "../lib/servers.ts";
import { threadTicks, ticksPerSecond } from "../lib/stages.ts";
import { runWrk, throughput } from "../lib/wrk.ts";

export interface LedgerRun {
  readonly variant: "on" | "off";
  readonly rps: number;
  readonly p99Ms: number;
  readonly failures: number;
  readonly stealPct?: number;
  /**
   * The server's CPU per deposit answered, in µs: its event loop (which takes HTTP and seals), the
   * SQLite writer's thread (which extends the tree), the read side's thread (which opens events for
   * the projections), and all its threads together.
   */
  readonly cpuUsPerDeposit: {
    readonly edge: number;
    readonly writer: number;
    readonly readSide: number;
    readonly total: number;
  };
}

/** A store of `events` deposits in 1 000 streams, written through the store itself (tree on), to verify. */
const writeLargeStore = async (dir: string, events: number): Promise<string> => {
  const path = join(dir, "events.sqlite");
  const store = new SqliteStore({ path });
  const bar = progressBar(`ledger: writing ${events} events to verify`);
  const perAppend = 50;
  const streams = 1_000;
  try {
    for (let version = 0, done = 0; done < events; version += perAppend) {
      await Promise.all(
        Array.from({ length: streams }, (_, s) =>
          store.append({
            streamId: `account-v${s}`,
            aggregateType: "account",
            expectedVersion: version,
            events: Array.from({ length: perAppend }, (_, i) => ({
              eventId: Bun.randomUUIDv7(),
              type: "MoneyDeposited",
              schemaVersion: 2,
              data: { amount: i + 1, balance: version + i + 1, currency: "EUR" },
              metadata: { commandId: "bench", correlationId: "bench", causationId: "bench" },
            })),
          }),
        ),
      );
      done += streams * perAppend;
      bar.update(done, events);
    }
    bar.finish();
  } finally {
    await store.close();
  }
  return path;
};

export interface LedgerResult {
  readonly accounts: number;
  readonly seconds: number;
  readonly runs: LedgerRun[];
  /** Mean rate with the tree and sealing on over the mean with both off. */
  readonly onOverOff: number;
  /**
   * Each turn's "on" over the "off" just before it, and their median: the machine's drift between
   * turns (its CPU is shared) falls less on a pair run back to back than on the means.
   */
  readonly pairs: readonly number[];
  readonly medianPair: number;
  readonly verify: { readonly events: number; readonly seconds: number; readonly eventsPerSecond: number };
  /** The same over a larger store written for it. */
  readonly verifyLarge: {
    readonly events: number;
    readonly seconds: number;
    readonly eventsPerSecond: number;
  };
  readonly erasure: {
    readonly subjects: number;
    readonly answerMs: { readonly p50: number; readonly max: number };
    readonly untilHotLookupMs: { readonly p50: number; readonly max: number };
  };
}

const off = { EVENTFOLD_LEDGER_OFF: "1", EVENTFOLD_PERSONAL_DATA_PLAIN: "1" };
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export const measureLedger = async (bench: Bench): Promise<LedgerResult> => {
  const { plan, log } = bench;
  const accounts = Math.min(plan.accounts, 10_000);
  const runs: LedgerRun[] = [];
  let verify: LedgerResult["verify"] | undefined;
  let erasure: LedgerResult["erasure"] | undefined;
  const turns = 3;
  // Off first, then on first, then off first: the first server of the stage starts on a colder machine,
  // and the last is "on" (its store is the one verified, its server the one erasing).
  const variants = Array.from({ length: turns }, (_, i) =>
    i % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const),
  ).flat();
  for (const [i, variant] of variants.entries()) {
    const last = i === variants.length - 1;
    log(`ledger: ${variant} (${i + 1}/${variants.length}), ${accounts} accounts`);
    const server = await startEventfold("embedded", bench.nextPort(), variant === "off" ? off : {});
    try {
      await seedAccounts(server.url, loadAccountPrefix, accounts, {
        open: progressBar(`ledger ${variant}: opening`),
      });
      const ticksBefore = threadTicks(server.pid);
      const result = await runWrk({
        url: server.url,
        scenario: "references",
        accounts,
        prefix: loadAccountPrefix,
        seconds: plan.seconds,
        connections: 64,
      });
      const failures = result.errors.status + result.errors.timeout + result.errors.connect;
      const ticksAfter = threadTicks(server.pid);
      const usPer = (names: (name: string) => boolean) => {
        let ticks = 0;
        for (const [name, after] of ticksAfter)
          if (names(name)) ticks += after - (ticksBefore.get(name) ?? 0);
        return Math.round((ticks / ticksPerSecond / Math.max(1, result.requests)) * 1e7) / 10;
      };
      const cpuUsPerDeposit = {
        edge: usPer((name) => name.startsWith("bun")),
        writer: usPer((name) => name === "sqlite-writer"),
        readSide: usPer((name) => name === "read-side"),
        total: usPer(() => true),
      };
      const run: LedgerRun = {
        variant,
        rps: Math.round(throughput(result)),
        p99Ms: result.latencyUs.p99 / 1000,
        failures,
        ...(result.cpu ? { stealPct: result.cpu.stealPct } : {}),
        cpuUsPerDeposit,
      };
      runs.push(run);
      log(
        `  ${variant}: ${run.rps} req/s, p99 ${run.p99Ms.toFixed(1)} ms, failures ${failures}; CPU µs per deposit: edge ${cpuUsPerDeposit.edge}, writer ${cpuUsPerDeposit.writer}, read side ${cpuUsPerDeposit.readSide}, all ${cpuUsPerDeposit.total}`,
      );
      if (last && server.dataDir) {
        // Read beside the running server, as `ledger verify` may be (WAL gives it one snapshot).
        verify = await measureVerify(join(server.dataDir, "events.sqlite"), log);
        erasure = await measureErasures(server.url, 20);
      }
    } finally {
      await server.stop();
    }
  }
  const onOverOff =
    mean(runs.filter((r) => r.variant === "on").map((r) => r.rps)) /
    mean(runs.filter((r) => r.variant === "off").map((r) => r.rps));
  const pairs = Array.from({ length: turns }, (_, i) => {
    const turn = runs.slice(2 * i, 2 * i + 2);
    const [offRun, onRun] = [turn.find((r) => r.variant === "off"), turn.find((r) => r.variant === "on")];
    return offRun && onRun ? onRun.rps / offRun.rps : 0;
  });
  const medianPair = [...pairs].sort((a, b) => a - b)[Math.floor(pairs.length / 2)] ?? 0;
  log(
    `ledger: on / off = ${onOverOff.toFixed(3)} (means); pairs ${pairs.map((r) => r.toFixed(3)).join(", ")}, median ${medianPair.toFixed(3)}`,
  );
  if (!verify || !erasure) throw new Error("the ledger stage did not finish");
  const dir = mkdtempSync(join(tmpdir(), "eventfold-bench-ledger-"));
  try {
    const path = await writeLargeStore(dir, plan.accounts >= 100_000 ? 1_000_000 : 300_000);
    const verifyLarge = await measureVerify(path, log);
    return {
      accounts,
      seconds: plan.seconds,
      runs,
      onOverOff,
      pairs,
      medianPair,
      verify,
      verifyLarge,
      erasure,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

const measureVerify = async (path: string, log: (m: string) => void): Promise<LedgerResult["verify"]> => {
  const db = new Database(path, { readonly: true });
  try {
    const bar = progressBar("ledger verify");
    const started = performance.now();
    const result = await verifyLedger(openVerifySource(db), { onProgress: (d, t) => bar.update(d, t) });
    const seconds = (performance.now() - started) / 1000;
    bar.finish(result.break ? `broken: ${result.break.detail}` : "whole");
    if (result.break) throw new Error(`the store does not verify: ${result.break.detail}`);
    const eventsPerSecond = Math.round(result.events / seconds);
    log(`  verify: ${result.events} events in ${seconds.toFixed(2)} s (${eventsPerSecond} events/s)`);
    return { events: result.events, seconds, eventsPerSecond };
  } finally {
    db.close();
  }
};

const measureErasures = async (url: string, subjects: number): Promise<LedgerResult["erasure"]> => {
  const answer: number[] = [];
  const visible: number[] = [];
  for (let i = 0; i < subjects; i++) {
    const id = `${loadAccountPrefix}${i}`;
    const started = performance.now();
    const response = await fetch(`${url}/v1/admin/subjects/${id}/erase`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ reason: "bench" }),
    });
    if (response.status !== 200) throw new Error(`erase ${id}: ${response.status} ${await response.text()}`);
    answer.push(performance.now() - started);
    for (;;) {
      const document = (await (await fetch(`${url}/v1/accounts/${id}`)).json()) as { owner?: string };
      if (document.owner === "[erased]") break;
      await Bun.sleep(5);
    }
    visible.push(performance.now() - started);
  }
  return {
    subjects,
    answerMs: { p50: percentile(answer, 50) ?? 0, max: Math.max(...answer) },
    untilHotLookupMs: { p50: percentile(visible, 50) ?? 0, max: Math.max(...visible) },
  };
};
