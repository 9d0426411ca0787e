/** The soak's report: soak.json, soak.md and its charts, per segment, with each fault marked. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SoakResult } from "../scenarios/soak.ts";
import { lineChart } from "./svg.ts";

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const ms = (v: number | null) => (v === null ? "-" : v.toFixed(1));

export const writeSoakReport = (dir: string, soak: SoakResult, startedAt: string): void => {
  writeFileSync(join(dir, "soak.json"), `${JSON.stringify(soak, null, 2)}\n`);
  const { segments, options, audit } = soak;
  const xOf = (i: number) => ((segments[i]?.atS ?? 0) / 60).toFixed(options.minutes < 10 ? 1 : 0);
  // Short labels: the marks stand close together on an hour's axis.
  const short: Record<string, string> = {
    "kill -9 and restart": "kill -9",
    "broker connections dropped": "broker",
    "Redis keys flushed": "Redis",
  };
  const marks = segments.flatMap((s, i) => (s.fault ? [{ at: i, label: short[s.fault] ?? s.fault }] : []));
  const chart = (file: string, title: string, y: string, series: { name: string; values: number[] }[]) =>
    writeFileSync(join(dir, file), lineChart(title, y, "minutes", series, { xOf, marks }));
  chart("soak-throughput.svg", "Soak: throughput", "req/s", [
    { name: "req/s", values: segments.map((s) => s.rps) },
  ]);
  chart("soak-latency.svg", "Soak: latency", "ms", [
    { name: "p50", values: segments.map((s) => s.p50Ms) },
    { name: "p99", values: segments.map((s) => s.p99Ms) },
  ]);
  chart("soak-rss.svg", "Soak: server RSS", "MiB", [
    { name: "RSS", values: segments.map((s) => s.rssBytes / 2 ** 20) },
  ]);
  chart("soak-lag.svg", "Soak: Redis projection lag (deposit 2xx to readable)", "ms", [
    { name: "p50", values: segments.map((s) => s.lagP50Ms ?? 0) },
    { name: "p99", values: segments.map((s) => s.lagP99Ms ?? 0) },
  ]);

  const byMinute = new Map<number, typeof segments>();
  for (const s of segments) {
    const minute = Math.ceil(s.atS / 60);
    byMinute.set(minute, [...(byMinute.get(minute) ?? []), s]);
  }
  const minuteRows = [...byMinute].map(([minute, of]) => {
    const mean = (f: (s: (typeof of)[number]) => number) => of.reduce((n, s) => n + f(s), 0) / of.length;
    const max = (f: (s: (typeof of)[number]) => number) => Math.max(...of.map(f));
    const fault = of.find((s) => s.fault)?.fault ?? "";
    return `| ${minute} | ${Math.round(mean((s) => s.rps))} | ${ms(mean((s) => s.p50Ms))} | ${ms(max((s) => s.p99Ms))} | ${of.reduce((n, s) => n + s.errors, 0)} | ${mib(max((s) => s.rssBytes))} | ${ms(max((s) => s.lagP99Ms ?? 0))} | ${fault} |`;
  });
  const growth =
    soak.rssAtTenMinutes > 0 ? (100 * (soak.rssMaxAfter - soak.rssAtTenMinutes)) / soak.rssAtTenMinutes : 0;
  const md = `# eventfold soak, ${startedAt}

${options.minutes} minutes of mixed commands (60% reads, 25% deposits, 10% withdrawals, 5% transfers) over
${options.accounts.toLocaleString("en")} accounts, full stack (RabbitMQ, Redis, chDB), at half of the measured
saturation (${soak.saturationRps} req/s, so ${soak.targetRps} req/s), in ${options.segmentSeconds} s segments; a fault every
${options.faultEveryMinutes} minutes, in turn: ${options.faults.join(", ")}.

## Audit

| | |
| --- | --- |
| events in the log | ${audit.events} |
| acknowledged commands | ${audit.acknowledged} |
| lost (acknowledged, not in the log) | **${audit.lost}** |
| doubled (in the log more than once) | **${audit.doubled}** |
| money in (deposits - withdrawals) / held by the accounts | ${audit.moneyIn} / ${audit.moneyHeld} (${audit.moneyIn === audit.moneyHeld ? "conserved" : "**not conserved**"}) |
| transfers not finished | ${audit.unfinishedTransfers} |
| Redis documents unlike the log | ${audit.hotLookupMismatches} |
| ClickHouse event counts unlike the log | ${audit.analyticsMismatches.length === 0 ? "none" : audit.analyticsMismatches.join(", ")} |
${audit.examples.length > 0 ? `\nExamples:\n\n${audit.examples.map((e) => `- ${e}`).join("\n")}\n` : ""}
## After each fault

p99 before the first fault: ${ms(soak.baselineP99Ms)} ms. Back within 1.5× of it:

| fault | at | p99 back after | the hot lookup rebuilt |
| --- | ---: | ---: | --- |
${soak.recoveries.map((r) => `| ${r.fault} | ${Math.round(r.atS / 60)} min | ${r.recoveredAfterS === null ? "never" : `${r.recoveredAfterS} s`} | ${r.rebuild ? `${r.rebuild.events.toLocaleString("en")} events in ${r.rebuild.seconds.toFixed(1)} s` : ""} |`).join("\n")}

RSS at ten minutes ${mib(soak.rssAtTenMinutes)} MiB, at most ${mib(soak.rssMaxAfter)} MiB after (${growth.toFixed(1)}%).

![throughput](soak-throughput.svg)
![latency](soak-latency.svg)
![RSS](soak-rss.svg)
![lag](soak-lag.svg)

## Per minute

| minute | req/s | p50 ms (mean) | p99 ms (worst segment) | errors | RSS MiB (max) | Redis lag p99 ms (worst) | fault |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
${minuteRows.join("\n")}
`;
  writeFileSync(join(dir, "soak.md"), md);
};
