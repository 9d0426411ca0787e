/**
 * Writes docs/analytics.md from the analysts' views (projections/analytics/views.ts); with `--check`,
 * only says whether the file is that one (exit 1 if not), as CI runs it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { analyticsDoc } from "../projections/analytics/docs.ts";

const path = new URL("../docs/analytics.md", import.meta.url).pathname;
const wanted = analyticsDoc();
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {}
  if (current !== wanted) {
    console.error(
      "docs/analytics.md differs from projections/analytics/views.ts: run `npm run analytics:docs`",
    );
    process.exit(1);
  }
  console.info("docs/analytics.md matches projections/analytics/views.ts");
} else {
  writeFileSync(path, wanted);
  console.info("docs/analytics.md written from projections/analytics/views.ts");
}
