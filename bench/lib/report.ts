import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Results } from "../run.ts";
import { barChart, lineChart } from "./svg.ts";

const ms = (v: number | null | undefined) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} ms`);
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

  const rows = r.scenarios
    .map(
      (s) =>
        `| ${s.mode} | ${s.scenario} | ${s.saturation.rps} | ${s.ratioToCeiling.toFixed(2)}× | ${s.saturation.failures} | ` +
        `${s.atHalf.rps} | ${ms(s.atHalf.latencyMs.p50)} | ${ms(s.atHalf.latencyMs.p99)} | ${ms(s.atHalf.latencyMs.p999)} | ${s.atHalf.failures} |`,
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

  const report = `# eventfold bench, ${r.startedAt} (${r.full ? "full" : "quick"})

Machine: ${r.machine.cpus} cores, Bun ${r.machine.bun}; generator: ${r.generator}, on the same machine.
Plan: ${r.plan.accounts} accounts, ${r.plan.seconds} s per run, ${r.plan.connections} connections at saturation,
${r.plan.pacedConnections} paced connections at 50%.
${r.skipped.length ? `\nNot run: ${r.skipped.join("; ")}.\n` : ""}
## Ceiling

A bare Hono route on \`Bun.serve\` that parses and validates the deposit body and answers from memory:
**${r.ceiling.rps} req/s** at saturation; at 50%: p50 ${ms(r.ceiling.atHalf.latencyMs.p50)}, p99 ${ms(r.ceiling.atHalf.latencyMs.p99)}.

## Throughput and latency

Saturation: ${r.plan.connections} connections flat out. "At 50%": paced to half the saturation throughput.
Failures are every non-2xx answer and every socket error or timeout.

| mode | scenario | req/s | / ceiling | failures | req/s at 50% | p50 | p99 | p99.9 | failures |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
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

${
  r.rehydration
    ? `A ${r.rehydration.events}-event account after a restart: first command ${ms(r.rehydration.firstCommandMs)} ` +
      `(rehydration from the newest snapshot plus the events after it, plus one append), warm command p50 ${ms(r.rehydration.warmCommandMs)}.`
    : ""
}
`;
  writeFileSync(join(dir, "report.md"), report);
};
