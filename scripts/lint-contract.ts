/**
 * Lints the served OpenAPI document (packages/client/openapi.json) with Redocly CLI (recommended rules) and
 * Spectral (spectral:oas): no error and no warning, but those their config files leave, with why.
 * Redocly exits non-zero on errors only, so its JSON totals are read.
 */
export {};

const document = "packages/client/openapi.json";

const redocly = Bun.spawn(["redocly", "lint", "--config", "redocly.yaml", "--format", "json", document], {
  stdout: "pipe",
  stderr: "pipe",
  env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
});
const [output, said] = await Promise.all([
  new Response(redocly.stdout).text(),
  new Response(redocly.stderr).text(),
]);
let parsed: unknown;
try {
  parsed = JSON.parse(output);
} catch {
  console.error(`redocly gave no report:\n${said}${output}`);
  process.exit(1);
}
const report = parsed as {
  totals: { errors: number; warnings: number; ignored: number };
  problems: { ruleId: string; message: string; location: { pointer: string }[] }[];
};
await redocly.exited;
const { errors, warnings, ignored } = report.totals;
for (const p of report.problems)
  console.error(`redocly: ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`);
console.info(`redocly (recommended): ${errors} errors, ${warnings} warnings, ${ignored} left with a reason`);

const spectral = Bun.spawn(
  ["spectral", "lint", "--quiet", "--fail-severity", "warn", "--ruleset", ".spectral.yaml", document],
  { stdout: "inherit", stderr: "inherit" },
);
const spectralCode = await spectral.exited;
console.info(`spectral (spectral:oas): ${spectralCode === 0 ? "no problems" : "problems above"}`);

if (errors + warnings > 0 || spectralCode !== 0) process.exit(1);
