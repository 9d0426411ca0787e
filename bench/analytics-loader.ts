/**
 * Scenario 6's loader, run as its own process before eventfold starts (chDB binds a data directory to
 * one process): creates the analytics schema at `chdbPath`, fills it with `count` synthetic events
 * generated inside ClickHouse (INSERT … SELECT FROM numbers(), in chunks for progress), and prints
 * one JSON line: the EXPLAIN of each analytics query, to show which table projection it reads.
 *
 * usage: bun bench/analytics-loader.ts <chdbPath> <database> <count> <accounts>
 */

import { eventCountsSql, topAccountsSql, volumeSql } from "../projections/analytics/queries.ts";
import { schemaStatements } from "../projections/analytics/schema.ts";
import { openClickHouse } from "../src/analytics/clickhouse.ts";
import { progressBar } from "../src/cli/progress.ts";

const [chdbPath, db, countArg, accountsArg] = process.argv.slice(2);
if (!chdbPath || !db || !countArg || !accountsArg) {
  process.stderr.write("usage: bun bench/analytics-loader.ts <chdbPath> <database> <count> <accounts>\n");
  process.exit(2);
}
const count = Number(countArg);
const accounts = Number(accountsArg);
const days = 30;
const client = await openClickHouse({ chdbPath });
for (const statement of schemaStatements(db)) await client.command({ query: statement });

// Event n: account n % accounts, its (n / accounts + 1)-th event, spread evenly over the last 30 days.
// Types in the mix of a bank: deposits, withdrawals, and both halves of transfers; 1 in 5 accounts in USD.
const chunk = 1_000_000;
const end = Math.floor(Date.now() / 1000);
const bar = progressBar(`analytics: loading ${count.toLocaleString("en")} events`);
for (let first = 0; first < count; first += chunk) {
  const size = Math.min(chunk, count - first);
  await client.command({
    query: `INSERT INTO ${db}.events
      SELECT concat('account-a-', toString(n % ${accounts})) AS stream_id,
             intDiv(n, ${accounts}) + 1 AS version,
             n + 1 AS position,
             toString(generateUUIDv7()) AS event_id,
             'account' AS aggregate_type,
             concat('a-', toString(n % ${accounts})) AS aggregate_id,
             ['MoneyDeposited', 'MoneyDeposited', 'MoneyWithdrawn', 'TransferDebited', 'TransferCredited'][n % 5 + 1] AS type,
             toDateTime(${end - days * 86_400} + intDiv(n * ${days * 86_400}, ${count}), 'UTC') AS time,
             if(n % ${accounts} % 5 = 0, 'USD', 'EUR') AS currency,
             1 + cityHash64(n) % 1000 AS amount,
             cityHash64(n, 1) % 1000000 AS balance,
             '{}' AS data
      FROM (SELECT number + ${first} AS n FROM numbers(${size}))`,
  });
  bar.update(first + size, count);
}
bar.finish();

// Inserts of a million rows each leave parts that the service, once started, spends its first tens of
// seconds merging (projections included), and routes timed then would measure those merges. A table fed
// over days is merged as it goes, so the loader merges what it loaded before the service starts.
const merge = performance.now();
await client.command({ query: `OPTIMIZE TABLE ${db}.events FINAL` });
process.stderr.write(`analytics: parts merged in ${((performance.now() - merge) / 1000).toFixed(1)} s\n`);

const from = end - days * 86_400;
const explain = async (sql: string, params: Record<string, unknown>) => {
  const result = await client.query({
    query: `EXPLAIN projections = 1 ${sql}`,
    query_params: params,
    format: "TabSeparatedRaw",
  });
  const text = await result.text();
  // "ReadFromMergeTree (by_minute)": the plan reads the projection, not the table.
  return [...text.matchAll(/ReadFromMergeTree \((by_minute|by_account)\)/g)].map((m) => m[1]);
};
const range = { from, to: end, currency: "" };
const projectionsRead = {
  volume: await explain(volumeSql(db, "day"), range),
  "event-counts": await explain(eventCountsSql(db), range),
  "top-accounts": await explain(topAccountsSql(db, "balance"), { limit: 10, currency: "" }),
};
await client.close();
process.stdout.write(
  `ANALYTICS_LOADED ${JSON.stringify({ count, accounts, from, to: end, projectionsRead })}\n`,
);
