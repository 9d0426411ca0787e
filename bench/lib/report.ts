import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AnalyticsSqlResult, Results, SqlAnswers, SubscriptionResult } from "./results.ts";
import { barChart, lineChart } from "./svg.ts";

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

const ms = (v: number | null | undefined) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} ms`);
/** A share in percent, or a dash where it was not measured. */
export const pct = (v: number | undefined) => (v === undefined ? "–" : `${v.toFixed(1)}%`);
const sec = (v: number | null | undefined) =>
  v === null || v === undefined ? "–" : `${(v * 1000).toFixed(0)} ms`;

/** report.md and its charts, next to results.json. */
export const writeReport = (dir: string, r: Results): void => {
  const label = (mode: string, scenario: string) => `${mode} ${scenario}`;
  writeFileSync(
    join(dir, "throughput.svg"),
    lineChart("Throughput at saturation, per second", "requests/s", "seconds into the run", [
      { name: "ceiling", values: r.ceiling.series.points },
      ...r.scenarios.map((s) => ({ name: label(s.mode, s.scenario), values: s.series.points })),
    ]),
  );
  const categories = r.scenarios.map((s) => label(s.mode, s.scenario));
  writeFileSync(
    join(dir, "latency.svg"),
    barChart("Latency at 50% of saturation", "ms", categories, [
      { name: "p50", values: r.scenarios.map((s) => s.atHalf.latencyMs.p50) },
      { name: "p99", values: r.scenarios.map((s) => s.atHalf.latencyMs.p99) },
      { name: "p99.9", values: r.scenarios.map((s) => s.atHalf.latencyMs.p999) },
    ]),
  );
  writeFileSync(
    join(dir, "ceiling-ratio.svg"),
    barChart("Throughput at saturation / ceiling", "ratio", categories, [
      { name: "ratio", values: r.scenarios.map((s) => Number(s.ratioToCeiling.toFixed(3))) },
    ]),
  );
  writeFileSync(
    join(dir, "projection-lag.svg"),
    barChart(
      "Projection lag at 50% of saturation (deposits)",
      "ms",
      r.lag.map((l) => l.mode),
      [
        { name: "Redis p50 (client probe)", values: r.lag.map((l) => l.redisProbeMs.p50 ?? 0) },
        { name: "Redis p99 (client probe)", values: r.lag.map((l) => l.redisProbeMs.p99 ?? 0) },
        { name: "ClickHouse p50", values: r.lag.map((l) => (l.appliedSeconds.analytics?.p50 ?? 0) * 1000) },
        { name: "ClickHouse p99", values: r.lag.map((l) => (l.appliedSeconds.analytics?.p99 ?? 0) * 1000) },
      ],
    ),
  );

  writeFileSync(
    join(dir, "memory.svg"),
    lineChart(
      `RSS while ${r.touched.accounts} accounts are opened (embedded)`,
      "MiB",
      "samples (twice a second)",
      [{ name: "RSS", values: r.touched.series.map((p) => Math.round(p.rssBytes / 2 ** 20)) }],
    ),
  );

  const rows = r.scenarios
    .map(
      (s) =>
        `| ${s.mode} | ${s.scenario} | ${s.saturation.rps} | ${s.ratioToCeiling.toFixed(2)}× | ${s.saturation.failures} | ` +
        `${s.atHalf.rps} | ${ms(s.atHalf.latencyMs.p50)} | ${ms(s.atHalf.latencyMs.p99)} | ${ms(s.atHalf.latencyMs.p999)} | ${s.atHalf.failures} | ` +
        `${pct(s.saturation.stealPct)} / ${pct(s.atHalf.stealPct)} |`,
    )
    .join("\n");
  const lagRows = r.lag
    .map(
      (l) =>
        `| ${l.mode} | ${ms(l.redisProbeMs.p50)} | ${ms(l.redisProbeMs.p99)} | ${l.redisProbeMs.samples} | ` +
        `${sec(l.appliedSeconds.accounts?.p50)} / ${sec(l.appliedSeconds.accounts?.p99)} | ` +
        `${sec(l.appliedSeconds.analytics?.p50)} / ${sec(l.appliedSeconds.analytics?.p99)} |`,
    )
    .join("\n");
  const memoryRows = r.memory
    .map((m) => `| ${m.mode} | ${m.accountsTouched} | ${(m.rssBytes / 2 ** 20).toFixed(0)} MiB |`)
    .join("\n");

  const analyticsRows = r.analytics.routes
    .map(
      (a) =>
        `| ${a.route} | ${a.samples} | ${ms(a.p50Ms)} | ${ms(a.p99Ms)} | ${a.failures} | ` +
        `${r.analytics.projectionsRead[a.route]?.join(", ") || "none (table scan)"} |`,
    )
    .join("\n");
  const targetRows = targets(r)
    .map(
      (t) =>
        `| ${t.what} | ${t.target} | ${t.reached} | ${t.met === null ? "n/a" : t.met ? "met" : "**not met**"} |`,
    )
    .join("\n");

  const report = `# eventfold bench, ${r.startedAt} (${r.full ? "full" : "quick"})

Machine: ${r.machine.cpus} cores, Bun ${r.machine.bun}; generator: ${r.generator}, on the same machine.
Event store: ${r.eventStores}.${r.tracing ? `\nTracing: ${r.tracing}.` : ""}
Plan: ${r.plan.accounts} accounts, ${r.plan.seconds} s per run, ${r.plan.connections} connections at saturation,
${r.plan.pacedConnections} paced connections at 50%; actor cap ${r.plan.maxActors} for scenarios 1-4
(\`EVENTFOLD_MAX_ACTORS\`, sized to the working set), the default 50000 for scenario 7.
${r.skipped.length ? `\nNot run: ${r.skipped.join("; ")}.\n` : ""}
## Against the targets

| what | target | reached | |
| --- | --- | --- | --- |
${targetRows}

## Ceiling

A bare Hono route on \`Bun.serve\` that parses and validates the deposit body and answers from memory:
**${r.ceiling.rps} req/s** at saturation (CPU stolen ${pct(r.ceiling.stealPct)}); at 50%: p50 ${ms(r.ceiling.atHalf.latencyMs.p50)}, p99 ${ms(r.ceiling.atHalf.latencyMs.p99)}.

## Throughput and latency

Saturation: ${r.plan.connections} connections flat out. "At 50%": paced to half the saturation throughput
(each connection pauses between requests; the pause is calibrated by two probe runs of ${r.plan.calibrationSeconds} s,
and the rate column shows what was reached).
Failures are every non-2xx answer and every socket error or timeout. "CPU stolen" is the share of the
machine's CPU time that the hypervisor gave to other guests during the saturation run / the 50% run
(\`/proc/stat\`): figures taken while it is high are lower than the code allows, and they are not
comparable with a run where it was low.

| mode | scenario | req/s | / ceiling | failures | req/s at 50% | p50 | p99 | p99.9 | failures | CPU stolen |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows}

![throughput over time](throughput.svg)

![ratio to the ceiling](ceiling-ratio.svg)

![latency at 50%](latency.svg)

## Projection lag (deposits at 50% of saturation)

Redis: a probe deposits on its own account every 100 ms and measures from the 2xx to
\`GET /v1/accounts/:id?minVersion=v\` answering. Applied: append-to-applied time from the projector's
histogram (\`eventfold_projection_lag_seconds\`), interpolated within its buckets, over that run only.

| mode | Redis p50 | Redis p99 | probes | accounts applied p50 / p99 | ClickHouse applied p50 / p99 |
| --- | ---: | ---: | ---: | ---: | ---: |
${lagRows}

![projection lag](projection-lag.svg)

## Memory and rehydration

| mode | accounts touched | RSS at the end |
| --- | ---: | ---: |
${memoryRows}

Scenario 7: ${r.touched.accounts} accounts opened one after another in a fresh embedded process in
${r.touched.seconds.toFixed(0)} s: RSS at the end ${(r.touched.rssBytes / 2 ** 20).toFixed(0)} MiB, peak
${mib(r.touched.peakRssBytes)} MiB; ${r.touched.liveActors} actors live at the end (passivation).${
    r.touched.rssFileBytes === undefined
      ? ""
      : ` Of the RSS at the end, ${mib(r.touched.rssFileBytes)} MiB were pages mapped from files (chDB's library, mostly) and ${mib(r.touched.rssAnonBytes ?? 0)} MiB anonymous; the JavaScript heaps in use: ${Object.entries(
          r.touched.heapBytes ?? {},
        )
          .map(([thread, bytes]) => `${thread} ${mib(bytes)} MiB`)
          .join(", ")}.`
  }

![RSS while accounts are opened](memory.svg)

${
  r.rehydration
    ? `${r.rehydration.firstCommandsMs.length} accounts of ${r.rehydration.events} events each, after a restart ` +
      `(timed once start-up work has settled): first command median ${ms(r.rehydration.firstCommandMs)} ` +
      `(each: ${r.rehydration.firstCommandsMs.map(ms).join(", ")}; rehydration from the newest snapshot plus the events ` +
      `after it, plus one append), warm command p50 ${ms(r.rehydration.warmCommandMs)}.`
    : ""
}
`;
  writeFileSync(
    join(dir, "subscriptions.svg"),
    barChart(
      "Deposits at saturation, with and without 100 live SSE consumers",
      "requests/s",
      ["deposits"],
      [
        { name: "no consumers", values: [Math.round(r.subscriptions.depositsAlone)] },
        { name: "100 consumers", values: [Math.round(r.subscriptions.depositsWith100Consumers)] },
      ],
    ),
  );
  writeFileSync(
    join(dir, "report.md"),
    report +
      stagesSection(dir, r) +
      footprintSection(r) +
      analyticsSection(r, analyticsRows) +
      (r.analyticsSql ? analyticsSqlSection(r.analyticsSql) : "") +
      subscriptionsSection(r.subscriptions),
  );
};

/** Where a deposit's time goes, per mode, at saturation and at 50%: a table and a chart per mode. */
const stagesSection = (dir: string, r: Results) => {
  const runs = r.scenarios.filter((s) => s.scenario === "deposits" && s.stages);
  if (runs.length === 0) return "";
  const parts = runs.map((run) => {
    const { saturation, atHalf } = run.stages as NonNullable<typeof run.stages>;
    const names = Object.keys(saturation.stages);
    const file = `stages-${run.mode.replace(/\s+/g, "-")}.svg`;
    writeFileSync(
      join(dir, file),
      barChart(`Where a deposit's time goes, ${run.mode} (mean per stage)`, "ms", names, [
        { name: "saturation", values: names.map((n) => saturation.stages[n]?.meanMs ?? 0) },
        { name: "50%", values: names.map((n) => atHalf.stages[n]?.meanMs ?? 0) },
      ]),
    );
    const stageMs = (v: number | null | undefined) => (v === null || v === undefined ? "–" : v.toFixed(3));
    const rows = names.map(
      (n) =>
        `| ${n} | ${stageMs(saturation.stages[n]?.meanMs)} | ≤ ${stageMs(saturation.stages[n]?.p99Ms)} | ${stageMs(atHalf.stages[n]?.meanMs)} | ≤ ${stageMs(atHalf.stages[n]?.p99Ms)} |`,
    );
    const threads = (t: Record<string, number>) =>
      Object.entries(t)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 6)
        .map(([name, share]) => `${name} ${share.toFixed(2)}`)
        .join(", ");
    return `### ${run.mode}

| stage | mean at saturation (ms) | p99 (bucket) | mean at 50% (ms) | p99 (bucket) |
| --- | ---: | ---: | ---: | ---: |
${rows.join("\n")}
| **request to answer** | ${stageMs(saturation.totalMeanMs)} | | ${stageMs(atHalf.totalMeanMs)} | |

CPU of the server's threads, in cores: at saturation ${threads(saturation.threadCpu)} (machine ${pct(saturation.machineBusyPct)} busy);
at 50% ${threads(atHalf.threadCpu)} (machine ${pct(atHalf.machineBusyPct)} busy).

![where a deposit's time goes, ${run.mode}](${file})
`;
  });
  return `
## Where a deposit's time goes

\`eventfold_write_stage_seconds\` over the deposits runs (the store's stages count writes: an actor's
batch of commands is one), and the server's threads' CPU from \`/proc/<pid>/task\`.

${parts.join("\n")}`;
};

const footprintSection = (r: Results) => {
  const f = r.storeFootprint;
  if (!f) return "";
  return `
## The embedded store on disk

After the load scenarios: ${f.afterLoad.events} events, **${f.afterLoad.bytesPerEvent} B per event** (the events
table, the stream heads and marks), database ${(f.afterLoad.fileBytes / 2 ** 20).toFixed(1)} MiB, WAL ${(f.afterLoad.walBytes / 2 ** 20).toFixed(1)} MiB.
Then ${f.refusals} deposits to accounts that do not exist, each under an Idempotency-Key of its own (each
refusal is kept under its key): **${f.afterRefusals.bytesPerOutcome} B per stored outcome**; the data directory
grew by ${f.dataDirGrowthPerRefusal} B per refusal.
`;
};

const subscriptionsSection = (s: SubscriptionResult) => `
## Catch-up subscriptions

${s.events} account events stored, then (one server, embedded):
- one SSE consumer reads them all from position 0: **${Math.round(s.catchUpEventsPerSecond)} events/s**;
- a live consumer, while ${s.liveSamples} deposits are paced: commit to receipt p50 ${ms(s.liveP50Ms)}, p99 ${ms(s.liveP99Ms)} (the envelope's \`time\`, millisecond precision, to the moment its chunk arrived);
- deposits at saturation: ${Math.round(s.depositsAlone)} req/s without consumers (mean of a run before and one after), ${Math.round(s.depositsWith100Consumers)} with 100 live consumers (${((1 - s.depositsWith100Consumers / s.depositsAlone) * 100).toFixed(1)}% fewer);
- a consumer that asks for everything and reads nothing: ${s.stalledCutOff ? `cut off after ${s.stalledCutOffSeconds.toFixed(1)} s` : "**not cut off**"}, the server's RSS ${(s.stalledRssGrowthBytes / 2 ** 20).toFixed(1)} MiB above where it was, at most.

![deposits with and without consumers](subscriptions.svg)
`;

const analyticsSection = (r: Results, rows: string) => `
## Analytics over ${r.analytics.events} events

Synthetic events (100 000 accounts' worth, spread over 30 days) loaded straight into the analytics table
in ${r.analytics.loadSeconds.toFixed(0)} s, then each route asked ${r.analytics.routes[0]?.samples ?? 0} times, one
request at a time, with varying ranges, intervals and currencies. "Reads" is the table projection that
EXPLAIN shows the route's query reading.

| route | samples | p50 | p99 | failures | reads |
| --- | ---: | ---: | ---: | ---: | --- |
${rows}
`;

/** Analysts' answers by status: "200: 12, 422: 1, 429: 30". */
export const answersByStatus = (answers: readonly SqlAnswers[]): string => {
  const byStatus = new Map<number, number>();
  for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + a.count);
  if (byStatus.size === 0) return "–";
  return [...byStatus]
    .sort((a, b) => a[0] - b[0])
    .map(([status, n]) => `${status || "no answer"}: ${n}`)
    .join(", ");
};

/**
 * The analytics SQL stage in one line: the deposits' p99 beside the queries against alone, and whether
 * the bounds held: no more queries at once than the concurrency, and every unbounded query accepted
 * ended 422 within 1.5 times the time bound.
 */
export const analyticsSqlVerdict = (s: AnalyticsSqlResult): string => {
  const [alone, beside] = s.phases;
  if (!alone || !beside) return "not measured";
  const [a, b] = [alone.deposits.latencyMs.p99, beside.deposits.latencyMs.p99];
  const count = (status: number) =>
    beside.answers.filter((x) => x.status === status).reduce((n, x) => n + x.count, 0);
  const unbounded = beside.answers.filter((x) => x.query === "unbounded" && x.status !== 429);
  const stopped = unbounded.filter((x) => x.status === 422);
  const slowestStop = Math.max(0, ...stopped.map((x) => x.maxMs ?? 0));
  const stoppedInTime =
    stopped.length > 0 && stopped.length === unbounded.length && slowestStop <= 1.5 * s.timeoutMs;
  const held = s.maxAtOnce <= s.concurrency && stoppedInTime;
  return (
    `deposit p99 ${a.toFixed(1)} → ${b.toFixed(1)} ms beside the queries (B/A ${(b / a).toFixed(2)}×); ` +
    `at most ${s.maxAtOnce} quer${s.maxAtOnce === 1 ? "y" : "ies"} ran at once (concurrency ${s.concurrency}), ${count(429)} refused with 429; ` +
    `the unbounded query ended 422 ${stopped.reduce((n, x) => n + x.count, 0)} time(s)` +
    `${stopped.length ? ` within ${(slowestStop / 1000).toFixed(1)} s` : ""} (bound ${s.timeoutMs / 1000} s): ` +
    `bounds ${held ? "held" : "NOT held"}`
  );
};

const analyticsSqlSection = (s: AnalyticsSqlResult) => {
  const phases = s.phases.map(
    (p) =>
      `| ${p.phase} | ${p.deposits.rps} | ${ms(p.deposits.latencyMs.p50)} | ${ms(p.deposits.latencyMs.p99)} | ${ms(p.deposits.latencyMs.p999)} | ${p.deposits.failures} | ${answersByStatus(p.answers)} |`,
  );
  const answers = s.phases.flatMap((p) =>
    p.answers.map(
      (a) =>
        `| ${a.query} | ${a.status || "no answer"} | ${a.count} | ${ms(a.p50Ms)} | ${ms(a.p99Ms)} | ${ms(a.maxMs)} |`,
    ),
  );
  return `
## Analysts' SQL beside commands (embedded)

On the embedded server after its load scenarios, its analysts' \`events\` view holding ${s.viewEvents} events
(caught up with the store, waited ${s.catchUpSeconds} s): deposits paced as in the 50% run (${s.delayMs} ms apart on
each connection) for ${s.seconds} s alone, then ${s.seconds} s while ${s.clients} clients loop \`POST /v1/analytics/sql\`
with the queries below (each retrying after a 429's \`Retry-After\`). The service's bounds: ${s.concurrency} quer${s.concurrency === 1 ? "y" : "ies"} at once,
${s.timeoutMs / 1000} s, ${s.maxRowsRead} rows read, ${s.maxThreads} thread(s) per query.

| phase | deposits/s | p50 | p99 | p99.9 | failures | analytics answers |
| --- | ---: | ---: | ---: | ---: | ---: | --- |
${phases.join("\n")}

| query | status | answers | p50 | p99 | max |
| --- | ---: | ---: | ---: | ---: | ---: |
${answers.join("\n")}

${Object.entries(s.queries)
  .map(([name, sql]) => `- \`${name}\`: \`${sql}\``)
  .join("\n")}

**${analyticsSqlVerdict(s)}** (at most ${s.maxAtOnce} at once: the accepted queries' windows as the clients saw them,
each shortened by the slowest 429's round trip.)
`;
};

interface TargetRow {
  what: string;
  target: string;
  reached: string;
  /** null: this run cannot tell (a mode not run, a quick run's smaller sizes). */
  met: boolean | null;
}

/** The targets of the bench issue, for this machine; the sizes they name are the full run's. */
const targets = (r: Results): TargetRow[] => {
  const deposits = (mode: string) => r.scenarios.find((s) => s.mode === mode && s.scenario === "deposits");
  const rows: TargetRow[] = [];
  for (const [mode, goal] of [
    ["full stack", 0.25],
    ["embedded", 0.35],
  ] as const) {
    const d = deposits(mode);
    rows.push({
      what: `deposits at saturation, ${mode}`,
      target: `≥ ${goal} × ceiling`,
      reached: d ? `${d.ratioToCeiling.toFixed(2)} × (${d.saturation.rps} req/s)` : "not run",
      met: d ? d.ratioToCeiling >= goal : null,
    });
  }
  const embedded = deposits("embedded")?.stages?.saturation;
  if (embedded?.machineBusyPct !== undefined) {
    const main = Math.max(0, ...Object.values(embedded.threadCpu));
    rows.push({
      what: "machine busy at saturation, embedded deposits",
      target: "≥ 90%, or the serial stage named",
      reached: `${embedded.machineBusyPct}% (busiest thread ${main.toFixed(2)} of a core)`,
      met: embedded.machineBusyPct >= 90 ? true : null,
    });
  }
  for (const mode of ["full stack", "embedded"]) {
    const worst = r.scenarios
      .filter((s) => s.mode === mode)
      .reduce<number | null>((w, s) => Math.max(w ?? 0, s.atHalf.latencyMs.p99), null);
    rows.push({
      what: `p99 at 50% of saturation, ${mode} (worst scenario)`,
      target: "≤ 15 ms",
      reached: worst === null ? "not run" : ms(worst),
      met: worst === null ? null : worst <= 15,
    });
  }
  for (const l of r.lag) {
    const redis = l.redisProbeMs.p99;
    const ch = l.appliedSeconds.analytics?.p99 ?? null;
    rows.push({
      what: `lag p99 to the hot lookup, ${l.mode}`,
      target: "≤ 250 ms",
      reached: ms(redis),
      met: redis === null ? null : redis <= 250,
    });
    rows.push({
      what: `lag p99 to ClickHouse, ${l.mode}`,
      target: "≤ 3 s",
      reached: sec(ch),
      met: ch === null ? null : ch <= 3,
    });
  }
  const bigEnough = r.analytics.events >= 10_000_000;
  for (const a of r.analytics.routes) {
    rows.push({
      what: `${a.route} over ${r.analytics.events} events, p99`,
      target: "≤ 300 ms over 10 M",
      reached: ms(a.p99Ms),
      met: bigEnough ? a.p99Ms <= 300 : null,
    });
  }
  rows.push({
    what: `RSS with ${r.touched.accounts} accounts touched (peak)`,
    target: "≤ 1 GB at 1 M",
    reached: `${(r.touched.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
    met: r.touched.accounts >= 1_000_000 ? r.touched.peakRssBytes <= 1e9 : null,
  });
  if (r.rehydration) {
    rows.push({
      what: `first command on a ${r.rehydration.events}-event stream after a restart (median of ${r.rehydration.firstCommandsMs.length})`,
      target: "≤ 20 ms",
      reached: ms(r.rehydration.firstCommandMs),
      met: r.rehydration.firstCommandMs <= 20,
    });
  }
  const sub = r.subscriptions;
  const bigStore = sub.events >= 1_000_000;
  rows.push(
    {
      what: `catch-up read of ${sub.events} events from position 0, one SSE consumer`,
      target: "≥ 50 000 events/s over 1 M",
      reached: `${Math.round(sub.catchUpEventsPerSecond)} events/s`,
      met: bigStore ? sub.catchUpEventsPerSecond >= 50_000 : null,
    },
    {
      what: "live consumer, commit to receipt, p99",
      target: "≤ 50 ms",
      reached: ms(sub.liveP99Ms),
      met: sub.liveP99Ms <= 50,
    },
    {
      what: "deposits with 100 live consumers, against none",
      target: "≥ 90%",
      reached: `${((sub.depositsWith100Consumers / sub.depositsAlone) * 100).toFixed(1)}%`,
      met: sub.depositsWith100Consumers >= 0.9 * sub.depositsAlone,
    },
    {
      what: "RSS growth for a consumer that stops reading, until cut off",
      target: "≤ 50 MiB",
      reached: `${(sub.stalledRssGrowthBytes / 2 ** 20).toFixed(1)} MiB${sub.stalledCutOff ? "" : " (not cut off)"}`,
      met: sub.stalledCutOff && sub.stalledRssGrowthBytes <= 50 * 2 ** 20,
    },
  );
  return rows;
};
