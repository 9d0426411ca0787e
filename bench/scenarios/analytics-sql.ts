/**
 * The analytics SQL stage: what analysts' heavy queries (`POST /v1/analytics/sql`) do to the latency of
 * commands in the embedded service, where ClickHouse is chDB on the read side's thread and shares the
 * cores with the write path, and whether the service's bounds on those queries hold. Deposits paced as
 * in the 50% runs, for a phase alone, then for a phase beside clients that loop a heavy aggregate and a
 * deliberately unbounded cross join (which the time bound must end in a 422).
 */
import { viewsDatabase } from "../../projections/analytics/views.ts";
import { progressBar } from "../../src/cli/progress.ts";
import { loadConfig } from "../../src/config.ts";
import type { Bench } from "../lib/context.ts";
import { percentile } from "../lib/lag.ts";
import { calibratePace, figures, loadAccountPrefix, startSeeded } from "../lib/load.ts";
import { analyticsSqlVerdict, answersByStatus } from "../lib/report.ts";
import type { AnalyticsSqlPhase, AnalyticsSqlResult, SqlAnswers } from "../lib/results.ts";
import type { RunningServer } from "../lib/servers.ts";
import { storedEvents } from "../lib/store-size.ts";
import { runWrk, throughput } from "../lib/wrk.ts";

/** One answer of the route, as a client saw it. */
interface Answer {
  readonly query: string;
  /** 0: no answer (a socket error, or the client's own timeout). */
  readonly status: number;
  readonly sentAt: number;
  readonly ms: number;
  readonly retryAfterS: number;
  readonly body: unknown;
}

/** Longer than any bound the service could set: past it, the client gives up (status 0). */
const clientTimeoutMs = 120_000;
/** How long the projection is given to catch up with the store before the phases run anyway. */
const catchUpTimeoutMs = 180_000;

const ask = async (url: string, name: string, query: string): Promise<Answer> => {
  const sentAt = performance.now();
  try {
    const response = await fetch(`${url}/v1/analytics/sql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query }),
      signal: AbortSignal.timeout(clientTimeoutMs),
    });
    const body: unknown = await response.json().catch(() => undefined);
    return {
      query: name,
      status: response.status,
      sentAt,
      ms: performance.now() - sentAt,
      retryAfterS: Number(response.headers.get("retry-after") ?? 1) || 1,
      body,
    };
  } catch {
    return {
      query: name,
      status: 0,
      sentAt,
      ms: performance.now() - sentAt,
      retryAfterS: 1,
      body: undefined,
    };
  }
};

/**
 * Waits until the analysts' `events` view holds every event of the store (polled through the route):
 * the heavy queries are to read all of them. Returns the view's count and the wait.
 */
const waitForView = async ({ log }: Bench, server: RunningServer, views: string) => {
  const stored = server.dataDir ? storedEvents(server.dataDir) : undefined;
  const started = performance.now();
  let events = 0;
  for (;;) {
    const answer = await ask(server.url, "count", `SELECT count() FROM ${views}.events`);
    if (answer.status === 200) {
      events = Number((answer.body as { rows: unknown[][] }).rows[0]?.[0] ?? 0);
    } else if (answer.status !== 429) {
      throw new Error(`POST /v1/analytics/sql answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    }
    if (stored === undefined || events >= stored) break;
    if (performance.now() - started > catchUpTimeoutMs) {
      log(`  the view holds ${events} of the store's ${stored} events after ${catchUpTimeoutMs / 1000} s`);
      break;
    }
    await Bun.sleep(250);
  }
  return { events, seconds: (performance.now() - started) / 1000 };
};

/** Deposits flat out until the store holds `events` events, if it holds fewer. */
const fillStore = async ({ plan }: Bench, server: RunningServer, events: number) => {
  const { dataDir } = server;
  const held = () => (dataDir ? (storedEvents(dataDir) ?? events) : events);
  if (held() >= events) return;
  const progress = progressBar(`embedded: deposits until the store holds ${events} events`);
  await runWrk({
    url: server.url,
    scenario: "deposits",
    accounts: plan.accounts,
    prefix: loadAccountPrefix,
    seconds: 3600,
    connections: plan.connections,
    stopWhen: async () => {
      const n = held();
      progress.update(Math.min(n, events), events);
      return n >= events;
    },
  });
  progress.finish();
};

/** Answers grouped by query and status, with their latency. */
const grouped = (answers: readonly Answer[]): SqlAnswers[] => {
  const groups = new Map<string, Answer[]>();
  for (const a of answers) {
    const key = `${a.query} ${a.status}`;
    groups.set(key, [...(groups.get(key) ?? []), a]);
  }
  return [...groups.values()]
    .map((group) => {
      const times = group.map((a) => a.ms);
      const [first] = group as [Answer];
      return {
        query: first.query,
        status: first.status,
        count: group.length,
        p50Ms: percentile(times, 50),
        p99Ms: percentile(times, 99),
        maxMs: Math.max(...times),
      };
    })
    .sort((a, b) => a.query.localeCompare(b.query) || a.status - b.status);
};

/**
 * The most accepted (not 429) queries whose client windows overlap. Each window is shortened at its end
 * by the slowest 429's round trip: the next query may be sent while an answer is on its way back,
 * after the one it answers has stopped running.
 */
const mostAtOnce = (answers: readonly Answer[]): number => {
  const slack = Math.max(0, ...answers.filter((a) => a.status === 429).map((a) => a.ms));
  const edges = answers
    .filter((a) => a.status !== 429 && a.status !== 0 && a.ms > slack)
    .flatMap((a) => [
      { at: a.sentAt, step: 1 },
      { at: a.sentAt + a.ms - slack, step: -1 },
    ])
    .sort((a, b) => a.at - b.at || a.step - b.step);
  let running = 0;
  let most = 0;
  for (const edge of edges) {
    running += edge.step;
    most = Math.max(most, running);
  }
  return most;
};

/** The stage, on an embedded server that holds seeded accounts; `delayMs` paces its deposits (50%). */
export const measureAnalyticsSql = async (
  bench: Bench,
  server: RunningServer,
  delayMs: number,
): Promise<AnalyticsSqlResult> => {
  const { plan, log } = bench;
  const config = loadConfig(process.env);
  const views = viewsDatabase(config.analyticsSchema);
  const queries = {
    top: `SELECT aggregate_id, count() AS n, sum(amount) AS total FROM ${views}.events GROUP BY aggregate_id ORDER BY total DESC LIMIT 10`,
    unbounded: `SELECT count() FROM ${views}.events AS a, ${views}.events AS b, ${views}.events AS c`,
  };
  const seconds = Math.max(plan.analyticsSqlSeconds, Math.ceil(config.analyticsSqlTimeoutMs / 1000) + 5);
  log("\nembedded analytics SQL");
  await fillStore(bench, server, plan.analyticsSqlEvents);
  log("  waiting for the analytics view to catch up with the store");
  const view = await waitForView(bench, server, views);
  log(`  ${views}.events holds ${view.events} events (waited ${view.seconds.toFixed(1)} s)`);

  const paced = {
    url: server.url,
    scenario: "deposits" as const,
    accounts: plan.accounts,
    prefix: loadAccountPrefix,
    seconds,
    connections: plan.pacedConnections,
    delayMs,
  };
  log(
    `  deposits alone: ${seconds} s, ${plan.pacedConnections} connections paced ${delayMs.toFixed(1)} ms apart`,
  );
  const alone = await runWrk(paced);

  log(
    `  deposits beside ${plan.analyticsSqlClients} clients looping analysts' queries (concurrency ${config.analyticsSqlConcurrency}, time bound ${config.analyticsSqlTimeoutMs} ms)`,
  );
  const answers: Answer[] = [];
  const deadline = performance.now() + seconds * 1000;
  const names = Object.keys(queries) as (keyof typeof queries)[];
  const client = async (k: number) => {
    // Client k starts with query k (in turn), retries it after a 429's Retry-After, and moves on after
    // any other answer; it sends nothing once the phase is over, and waits for what it has sent.
    for (let i = k; performance.now() < deadline; ) {
      const name = names[i % names.length] as keyof typeof queries;
      const answer = await ask(server.url, name, queries[name]);
      answers.push(answer);
      if (answer.status === 429 || answer.status === 503 || answer.status === 0) {
        await Bun.sleep(Math.max(0, Math.min(answer.retryAfterS * 1000, deadline - performance.now())));
      } else i++;
    }
  };
  const clients = Array.from({ length: plan.analyticsSqlClients }, (_, k) => client(k));
  const beside = await runWrk(paced);
  await Promise.all(clients);

  const phases: AnalyticsSqlPhase[] = [
    { phase: "deposits alone", deposits: figures(alone), answers: [] },
    { phase: "deposits + analysts' queries", deposits: figures(beside), answers: grouped(answers) },
  ];
  const result: AnalyticsSqlResult = {
    viewEvents: view.events,
    catchUpSeconds: Math.round(view.seconds * 10) / 10,
    concurrency: config.analyticsSqlConcurrency,
    timeoutMs: config.analyticsSqlTimeoutMs,
    maxRowsRead: config.analyticsSqlMaxRowsRead,
    maxThreads: config.analyticsSqlThreads,
    clients: plan.analyticsSqlClients,
    seconds,
    delayMs: Math.round(delayMs * 100) / 100,
    queries,
    phases,
    maxAtOnce: mostAtOnce(answers),
  };
  for (const line of describeAnalyticsSql(result)) log(`  ${line}`);
  return result;
};

/** The stage's figures as lines of text, for the progress log. */
export const describeAnalyticsSql = (s: AnalyticsSqlResult): string[] => {
  const ms = (v: number | null) => (v === null ? "–" : `${v.toFixed(1)} ms`);
  return [
    `${"phase".padEnd(30)} ${"deposits/s".padStart(10)} ${"p50".padStart(9)} ${"p99".padStart(9)}  analytics answers`,
    ...s.phases.map(
      (p) =>
        `${p.phase.padEnd(30)} ${String(p.deposits.rps).padStart(10)} ${ms(p.deposits.latencyMs.p50).padStart(9)} ${ms(p.deposits.latencyMs.p99).padStart(9)}  ${answersByStatus(p.answers)}`,
    ),
    ...s.phases.flatMap((p) =>
      p.answers.map(
        (a) =>
          `  ${a.query} ${a.status || "no answer"}: ${a.count}, p50 ${ms(a.p50Ms)}, p99 ${ms(a.p99Ms)}, max ${ms(a.maxMs)}`,
      ),
    ),
    `verdict: ${analyticsSqlVerdict(s)}`,
  ];
};

/** `--analytics-sql`: the stage alone, on an embedded server of its own (seeded, its pace calibrated). */
export const measureAnalyticsSqlAlone = async (bench: Bench): Promise<AnalyticsSqlResult> => {
  const { plan, log } = bench;
  const server = await startSeeded(bench, "embedded");
  try {
    const base = {
      url: server.url,
      scenario: "deposits" as const,
      accounts: plan.accounts,
      prefix: loadAccountPrefix,
    };
    log(`  embedded deposits: saturation, ${plan.connections} connections, ${plan.seconds}s`);
    const saturation = await runWrk({ ...base, seconds: plan.seconds, connections: plan.connections });
    log(`  embedded deposits: ${Math.round(throughput(saturation))} req/s at saturation`);
    const delayMs = await calibratePace(bench, "embedded deposits", base, throughput(saturation) / 2);
    return await measureAnalyticsSql(bench, server, delayMs);
  } finally {
    await server.stop();
  }
};
