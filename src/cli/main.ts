import {
  AdminApiError,
  type AdminClient,
  adminClient,
  type ProjectionInfo,
  type SqlResult,
} from "./admin-client.ts";
import { LedgerUsageError, ledgerCommand, ledgerUsage } from "./ledger.ts";
import { progressBar } from "./progress.ts";
import { folderFiles, namesOf, registryEdits, scaffoldAggregate } from "./scaffold.ts";

const usage = `usage: npm run eventfold -- <command>

  projections                 each projection: state, queued, dead letters, rebuild progress
  dead-letters [projection]   the dead-lettered events with their last error
  replay <projection>         puts a projection's dead letters back on its queues
  replay <projection> <event> puts one dead-lettered event back (its eventId, as dead-letters lists it)
  discard <projection> <event>  drops one dead-lettered event for good (logged with your key's name)
  pause <projection>          stops applying events to it: they wait on its queues
  resume <projection>         applies them again, those that waited first
  rebuild <projection>        drops a projection and refills it from the event store
  sql "<query>"               an analyst's SELECT over the analytics views (docs/analytics.md); options:
                                --format table|csv|json  how to print the answer (default table)
                                --param name=value       a value for {name:Type} in the query (repeatable)
  new aggregate <name>        writes actors/<name>/, a working aggregate to start from (--help: what)
  ledger verify [--head h.json]  recomputes the ledger's tree from the store, offline (--help: more)
  ledger keygen               prints a new signing key for EVENTFOLD_LEDGER_SIGNING_KEY

Talks to the admin API of EVENTFOLD_URL (default http://127.0.0.1:3000, where npm start serves it;
with docker compose the projector serves it, on http://127.0.0.1:3001) with EVENTFOLD_TOKEN, an admin
key (for sql, a reader key is enough), when auth is on. Exit codes: 0 done, 1 refused or failed, 2 usage.`;

const POLL_MS = 250;

const table = (rows: string[][]) => {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
};

/** A rebuild in one line: how far, how fast, when it should end, into which generation. */
const rebuildLine = (r: NonNullable<ProjectionInfo["rebuild"]>): string =>
  [
    `${r.done}/${r.total}`,
    r.reason === "lost" ? "(the store lost its data)" : "",
    r.generation === undefined ? "" : `into generation ${r.generation}`,
    r.error ? `failed: ${r.error}` : r.finishedAt ? "done" : "",
    !r.finishedAt && r.rate !== undefined ? `${r.rate} events/s` : "",
    !r.finishedAt && r.expectedEnd ? `until about ${r.expectedEnd.slice(11, 19)} UTC` : "",
  ]
    .filter((part) => part !== "")
    .join(" ");

const FORMATS = ["table", "csv", "json"] as const;
type Format = (typeof FORMATS)[number];

// `--name` or `--name=value` on one line: a query may itself start with `--`, a SQL comment.
const OPTION = /^(--[a-z][a-z-]*)(?:=(.*))?$/;

/** The sql verb's arguments: the query, how to print its answer, and the `{name:Type}` values. */
const sqlArgs = (args: string[]) => {
  let query: string | undefined;
  let format: Format = "table";
  // Strings whatever they look like: ClickHouse parses each by its placeholder's type, so `1` is an
  // Int64 for `{n:Int64}` and the text "1" for `{s:String}`, as the analyst meant.
  const params: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    const option = OPTION.exec(arg);
    if (!option) {
      if (query !== undefined) throw new UsageError("sql takes the query as one argument: put it in quotes");
      query = arg;
      continue;
    }
    const [, flag, inline] = option;
    if (flag !== "--format" && flag !== "--param") throw new UsageError(`sql has no option ${flag}`);
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`${flag} takes a value`);
    if (flag === "--format") {
      if (!FORMATS.includes(value as Format)) {
        throw new UsageError(`--format is one of ${FORMATS.join(", ")}, not ${value}`);
      }
      format = value as Format;
      continue;
    }
    const at = value.indexOf("=");
    const name = value.slice(0, at);
    if (at <= 0) throw new UsageError(`--param takes name=value, not ${value}`);
    if (Object.hasOwn(params, name)) throw new UsageError(`--param ${name} is given twice`);
    params[name] = value.slice(at + 1);
  }
  if (query === undefined || query.trim() === "") throw new UsageError('sql needs a query: sql "SELECT …"');
  return { query, format, params: Object.keys(params).length > 0 ? params : undefined };
};

/** A value of the answer as text: strings as they are, the rest (arrays, maps, numbers) as JSON. */
const cellText = (value: unknown): string =>
  typeof value === "string" ? value : (JSON.stringify(value) ?? "");

/** In a table, a cell on one line (a line break would break the columns), NULL as clickhouse-client has it. */
const tableCell = (value: unknown): string =>
  value === null
    ? "NULL"
    : cellText(value).replace(/[\n\r\t]/g, (c) => ({ "\n": "\\n", "\r": "\\r", "\t": "\\t" })[c] ?? c);

/** RFC 4180: quoted when it holds a comma, a quote or a line break, its quotes doubled; NULL empty. */
const csvField = (value: unknown): string => {
  const text = value === null || value === undefined ? "" : cellText(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

/** 1234567 as 1 234 567: the grouping reads the same in every locale. */
const grouped = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, " ");
const rowCount = (n: number): string => `${grouped(n)} row${n === 1 ? "" : "s"}`;
// Tenths below 10 ms, where most of these queries end: "0 ms" would say nothing.
const millis = (ms: number): string => String(ms >= 10 ? Math.round(ms) : Math.round(ms * 10) / 10);

const truncation = (answer: SqlResult): string =>
  `the answer holds only the first ${rowCount(answer.rows.length)}: the query returns more ` +
  "(raise the service's EVENTFOLD_ANALYTICS_SQL_MAX_ROWS or narrow the query)";

const printSql: Record<Format, (answer: SqlResult) => void> = {
  table(answer) {
    console.log(table([answer.columns.map((c) => c.name), ...answer.rows.map((r) => r.map(tableCell))]));
    console.log(
      `${rowCount(answer.rows.length)} (read ${rowCount(answer.rowsRead)} in ${millis(answer.elapsedMs)} ms)`,
    );
    if (answer.truncated) console.log(truncation(answer));
  },
  csv(answer) {
    const records = [answer.columns.map((c) => c.name), ...answer.rows];
    // CRLF between records, as RFC 4180 has it; a line break inside a quoted field stays as it was.
    process.stdout.write(records.map((r) => `${r.map(csvField).join(",")}\r\n`).join(""));
    // Stdout is the data alone, for a file or a pipe; that it is cut must still be said.
    if (answer.truncated) console.error(`eventfold: ${truncation(answer)}`);
  },
  json(answer) {
    console.log(JSON.stringify(answer, null, 2));
  },
};

const commands: Record<string, (api: AdminClient, args: string[]) => Promise<void>> = {
  async projections(api) {
    const rows = (await api.projections()).map((p) => [
      p.name,
      p.state,
      String(p.queued),
      String(p.deadLettered),
      p.generation === undefined ? "-" : String(p.generation),
      p.rebuild ? rebuildLine(p.rebuild) : "-",
    ]);
    console.log(
      table([
        ["projection", "state", "queued", "dead letters", "serving generation", "last rebuild"],
        ...rows,
      ]),
    );
  },

  async "dead-letters"(api, [projection]) {
    const letters = await api.deadLetters(projection);
    for (const [name, list] of Object.entries(letters)) {
      console.log(`${name}: ${list.length} dead letter${list.length === 1 ? "" : "s"}`);
      for (const l of list) {
        console.log(`  ${l.event.eventId}  ${l.event.streamId}@${l.event.version} ${l.event.type}`);
        console.log(
          `    after ${l.attempts} attempts, ${l.deadLetteredAt ?? "at a time not recorded"}: ${l.error}`,
        );
      }
    }
  },

  async replay(api, [projection, eventId]) {
    if (!projection) throw new UsageError("replay needs a projection name");
    if (eventId) {
      await api.replayOne(projection, eventId);
      console.log(`replayed ${eventId} of ${projection}: it is back on the queue, as a first try`);
      return;
    }
    const depth = async () => (await api.projections()).find((p) => p.name === projection)?.deadLettered ?? 0;
    const total = await depth();
    const bar = progressBar(`replay ${projection}`);
    bar.update(0, total);
    let finished = false;
    const replaying = api.replay(projection).finally(() => {
      finished = true;
    });
    while (!finished) {
      await Bun.sleep(POLL_MS);
      if (!finished) bar.update(Math.max(0, total - (await depth())), total);
    }
    const replayed = await replaying;
    bar.update(replayed, Math.max(replayed, total));
    bar.finish();
    console.log(`replayed ${replayed} dead letter${replayed === 1 ? "" : "s"} of ${projection}`);
  },

  async discard(api, [projection, eventId]) {
    if (!projection || !eventId) throw new UsageError("discard needs a projection name and an event id");
    await api.discard(projection, eventId);
    console.log(`discarded ${eventId} of ${projection}: it is not applied from the dead letters`);
  },

  async pause(api, [projection]) {
    if (!projection) throw new UsageError("pause needs a projection name");
    const { state } = await api.steer(projection, "pause");
    const { queued } = (await api.projections()).find((p) => p.name === projection) ?? { queued: 0 };
    console.log(`${projection} is ${state}: its events wait on its queues (${queued} now)`);
  },

  async resume(api, [projection]) {
    if (!projection) throw new UsageError("resume needs a projection name");
    const { state } = await api.steer(projection, "resume");
    console.log(`${projection} is ${state}`);
  },

  async rebuild(api, [projection]) {
    if (!projection) throw new UsageError("rebuild needs a projection name");
    const started = await api.rebuild(projection);
    const bar = progressBar(`rebuild ${projection}`);
    for (;;) {
      const rebuild = (await api.projections()).find((p) => p.name === projection)?.rebuild;
      if (rebuild && rebuild.startedAt === started.rebuild?.startedAt) {
        bar.update(rebuild.done, rebuild.total);
        if (!process.stderr.isTTY && !rebuild.finishedAt) console.error(`  ${rebuildLine(rebuild)}`);
        if (rebuild.error) {
          bar.finish();
          throw new AdminApiError(`rebuild of ${projection} failed: ${rebuild.error}`);
        }
        if (rebuild.finishedAt) {
          bar.finish();
          console.log(
            `rebuilt ${projection} from ${rebuild.total} stored events` +
              (rebuild.generation === undefined ? "" : `; generation ${rebuild.generation} serves`),
          );
          return;
        }
      }
      await Bun.sleep(POLL_MS);
    }
  },

  async sql(api, args) {
    const { query, format, params } = sqlArgs(args);
    printSql[format](await api.sql(query, params));
  },
};

class UsageError extends Error {}

const newUsage = `usage: npm run eventfold -- new aggregate <name> [--plural <plural>]

Writes a working aggregate to start from: <name> (2-30 lower case letters) with four commands (open,
rename, close, reopen), routes at /v1/<plural> (default <name>s), its tests, and registers it. What it writes
passes typecheck, lint, the contract check and its tests as it is. Run from the repository's root.

In actors/<name>/:
${folderFiles.map((f) => `  ${f.file.padEnd(16)}${f.what}`).join("\n")}

Outside it:
${registryEdits.map((f) => `  ${f.file}\n      ${f.what}`).join("\n")}

Then: change the commands, events and rules to yours, and run npm run contract:generate and npm test.
The README's "Adding an aggregate" says what else there is (a read model, analytics, a process).`;

/** Runs a tool of the repository (biome, the contract generator) from its root, failing loudly. */
const runTool = (root: string, command: string[], what: string) => {
  const run = Bun.spawnSync(command, { cwd: root, stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) {
    throw new Error(
      `${what} failed (${command.join(" ")}):\n${run.stderr.toString()}${run.stdout.toString()}`,
    );
  }
};

const newAggregate = (args: string[]) => {
  const [kind, name, ...rest] = args;
  if (kind === "--help" || kind === "-h" || name === "--help" || name === "-h" || rest.includes("--help")) {
    console.log(newUsage);
    return;
  }
  if (kind !== "aggregate" || name === undefined) throw new UsageError(newUsage);
  const pluralAt = rest.indexOf("--plural");
  const plural = pluralAt >= 0 ? rest[pluralAt + 1] : undefined;
  if (pluralAt >= 0 && (plural === undefined || plural.startsWith("-"))) {
    throw new UsageError("--plural takes the plural: --plural <plural>");
  }
  const names = namesOf(name, plural);
  const root = process.cwd();
  const { written, undo } = scaffoldAggregate(root, names, (line) => console.log(line));
  try {
    console.log("formatting (biome)");
    const sources = written.filter((f) => f.endsWith(".ts"));
    runTool(root, [`${root}/node_modules/.bin/biome`, "check", "--write", ...sources], "formatting");
    console.log("making the contract again: the OpenAPI document, the client's types, docs/errors.md");
    runTool(root, [process.execPath, "run", "scripts/contract.ts"], "the contract's generation");
  } catch (error) {
    // Left half-done, the registry would import a folder that does not work: all of it is undone.
    undo();
    runTool(root, [process.execPath, "run", "scripts/contract.ts"], "the contract's generation");
    throw error;
  }
  console.log(`done: ${names.name} serves /v1/${names.plural}; try npm test -- actors/${names.name}`);
};

const [command, ...args] = process.argv.slice(2);
if (command === "new") {
  try {
    newAggregate(args);
    process.exit(0);
  } catch (error) {
    console.error(`eventfold: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(error instanceof UsageError ? 2 : 1);
  }
}
if (command === "ledger") {
  try {
    process.exit(await ledgerCommand(args));
  } catch (error) {
    console.error(`eventfold: ${error instanceof Error ? error.message : String(error)}`);
    if (error instanceof LedgerUsageError) console.error(`\n${ledgerUsage}`);
    process.exit(error instanceof LedgerUsageError ? 2 : 1);
  }
}
if (command === "--help" || command === "-h" || command === "help") {
  console.log(usage);
  process.exit(0);
}
const run = command ? commands[command] : undefined;
if (!run) {
  console.error(command ? `unknown command: ${command}\n\n${usage}` : usage);
  process.exit(2);
}
try {
  await run(
    adminClient(process.env.EVENTFOLD_URL ?? "http://127.0.0.1:3000", process.env.EVENTFOLD_TOKEN),
    args,
  );
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`${error.message}\n\n${usage}`);
    process.exit(2);
  }
  if (error instanceof AdminApiError) {
    console.error(`eventfold: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
