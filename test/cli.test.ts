import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createEventfoldClient } from "../packages/client/src/index.ts";
import { viewsDatabase } from "../projections/analytics/views.ts";
import { createLogger } from "../src/observability/log.ts";
import { logLines } from "./support/app.ts";
import { eventually } from "./support/http.ts";
import { expectReadModelsMatchStore, poisonAmount, quiesce, runWorkload } from "./support/read-side.ts";
import { startTestService, type TestService } from "./support/service.ts";

const root = new URL("..", import.meta.url).pathname;
const TOKEN = "cli-admin-token";
const READER_TOKEN = "cli-reader-token";
// Small, so that one query of the sql test goes past it.
const SQL_MAX_ROWS = 5;

const cliAs =
  (token: string) =>
  async (service: TestService, ...args: string[]) => {
    const proc = Bun.spawn([process.execPath, "run", "src/cli/main.ts", ...args], {
      cwd: root,
      env: { ...process.env, EVENTFOLD_URL: service.url, EVENTFOLD_TOKEN: token },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { stdout, stderr, code };
  };
const cli = cliAs(TOKEN);
const analyst = cliAs(READER_TOKEN);

describe("npm run eventfold -- …", () => {
  let broken = true;
  let service: TestService;
  const logged = logLines();

  beforeAll(async () => {
    const projections = poisonAmount("accounts", 777, "amount 777 is cursed", () => broken);
    service = await startTestService(
      {
        retryAttempts: 2,
        apiKeys: [
          { name: "ops", role: "admin", token: TOKEN },
          { name: "analyst", role: "reader", token: READER_TOKEN },
        ],
        analyticsSqlMaxRows: SQL_MAX_ROWS,
      },
      { projections, log: createLogger("info", logged) },
    );
  });
  afterAll(() => service.dispose());

  test("dead-letters lists the poison event with its error; replay puts it back once fixed", async () => {
    const api = createEventfoldClient({ baseUrl: service.url, token: TOKEN });
    await api.POST("/v1/accounts", { body: { accountId: "cli-1", owner: "cli", currency: "EUR" } });
    const params = { path: { id: "cli-1" } };
    const deposit = await api.POST("/v1/accounts/{id}/deposits", { params, body: { amount: 777 } });
    await eventually(
      async () => (await cli(service, "dead-letters", "accounts")).stdout,
      (out) => out.includes("accounts: 1 dead letter"),
      10_000,
    );
    const listed = await cli(service, "dead-letters");
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain("account-cli-1@2 MoneyDeposited");
    expect(listed.stdout).toContain("after 2 attempts");
    expect(listed.stdout).toContain("amount 777 is cursed");

    const status = await cli(service, "projections");
    expect(status.stdout).toMatch(/^accounts\s+running\s+0\s+1\s/m);

    broken = false;
    const replayed = await cli(service, "replay", "accounts");
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain("replayed 1 dead letter of accounts");
    expect(replayed.stderr).toContain("replay accounts [");
    const minVersion = deposit.data?.version ?? 0;
    const read = await api.GET("/v1/accounts/{id}", { params: { ...params, query: { minVersion } } });
    expect(read.data).toMatchObject({ balance: 777, version: 2 });
  });

  test("rebuild shows progress and leaves the same read models", async () => {
    const api = createEventfoldClient({ baseUrl: service.url, token: TOKEN });
    const workload = await runWorkload(api, { prefix: "cli-rebuild", accounts: 20, commands: 400 });
    const truth = await quiesce(api, service.engine.store, workload);
    const rebuilt = await cli(service, "rebuild", "analytics");
    expect(rebuilt.code).toBe(0);
    // Not a terminal: a line per tenth reached, in order, ending at 100%, never a line for 0 of 0.
    const percents = [...rebuilt.stderr.matchAll(/ +(\d+)% (\d+)\/(\d+)/g)].map((m) => [
      Number(m[1]),
      Number(m[3]),
    ]);
    expect(percents.length).toBeGreaterThan(0);
    expect(percents.at(-1)?.[0]).toBe(100);
    expect(percents.every(([, total]) => (total ?? 0) > 0)).toBe(true);
    expect(percents.map(([p]) => p)).toEqual(
      [...percents.map(([p]) => p)].sort((a, b) => (a ?? 0) - (b ?? 0)),
    );
    expect(rebuilt.stdout).toMatch(/^rebuilt analytics from \d+ stored events; generation \d+ serves$/m);
    await expectReadModelsMatchStore(api, truth);
  });

  test("--help prints the usage, where the admin API is, and exits 0", async () => {
    const help = await cli(service, "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("usage: npm run eventfold -- <command>");
    expect(help.stdout).toContain("EVENTFOLD_URL");
  });

  test("a wrong command or a missing name prints the usage and exits 2; a refused call exits 1", async () => {
    const unknown = await cli(service, "frobnicate");
    expect([unknown.code, unknown.stderr]).toEqual([
      2,
      expect.stringContaining("unknown command: frobnicate"),
    ]);
    const missing = await cli(service, "rebuild");
    expect([missing.code, missing.stderr]).toEqual([
      2,
      expect.stringContaining("rebuild needs a projection name"),
    ]);
    const noSuch = await cli(service, "replay", "nope");
    expect([noSuch.code, noSuch.stderr]).toEqual([1, expect.stringContaining("404")]);
  });

  test("sql answers an analyst's query, with a reader key, as a table, CSV or JSON; --param fills {name:Type}", async () => {
    const api = createEventfoldClient({ baseUrl: service.url, token: TOKEN });
    const db = viewsDatabase(service.config.analyticsSchema);
    await api.POST("/v1/accounts", { body: { accountId: "cli-sql", owner: "cli", currency: "EUR" } });
    const params = { path: { id: "cli-sql" } };
    for (const amount of [100, 250, 1234]) {
      await api.POST("/v1/accounts/{id}/deposits", { params, body: { amount } });
    }
    // The projection inserts into ClickHouse in batches: the four events are there when counted there.
    await eventually(
      async () =>
        (
          await api.POST("/v1/analytics/sql", {
            body: { query: `SELECT count() FROM ${db}.events WHERE aggregate_id = 'cli-sql'` },
          })
        ).data?.rows,
      (rows) => rows?.[0]?.[0] === "4",
      15_000,
    );
    const deposits = `FROM ${db}.events WHERE aggregate_id = 'cli-sql' AND type = 'MoneyDeposited'`;
    const sums = `SELECT count() AS deposits, sum(amount) AS total ${deposits}`;

    const counted = await analyst(service, "sql", sums);
    expect([counted.code, counted.stderr]).toEqual([0, ""]);
    expect(counted.stdout).toMatch(
      /^deposits {2}total\n3 {9}1584\n1 row \(read [\d ]+ rows? in \d+(\.\d)? ms\)\n$/,
    );

    const listed = await analyst(
      service,
      "sql",
      `SELECT version, type, amount, if(version = 1, 'opened, "new"\\nhere', '') AS note
       FROM ${db}.events WHERE aggregate_id = 'cli-sql' ORDER BY version`,
      "--format",
      "csv",
    );
    expect([listed.code, listed.stderr]).toEqual([0, ""]);
    expect(listed.stdout).toBe(
      [
        "version,type,amount,note",
        '1,AccountOpened,0,"opened, ""new""\nhere"',
        "2,MoneyDeposited,100,",
        "3,MoneyDeposited,250,",
        "4,MoneyDeposited,1234,",
        "",
      ].join("\r\n"),
    );

    const json = await analyst(service, "sql", "--format=json", sums);
    expect(json.code).toBe(0);
    expect(json.stdout).toContain('\n  "columns": [');
    expect(JSON.parse(json.stdout)).toEqual({
      columns: [
        { name: "deposits", type: "UInt64" },
        { name: "total", type: "Int64" },
      ],
      rows: [["3", "1584"]],
      rowsRead: expect.any(Number),
      elapsedMs: expect.any(Number),
      truncated: false,
    });

    const filled = await analyst(
      service,
      "sql",
      `SELECT sum(amount) AS total ${deposits} AND amount >= {least:Int64} AND currency = {currency:String}`,
      "--param",
      "least=200",
      "--param",
      "currency=EUR",
      "--format",
      "csv",
    );
    expect([filled.code, filled.stdout]).toEqual([0, "total\r\n1484\r\n"]);

    const cut = await analyst(service, "sql", "SELECT arrayJoin(range(8)) AS n");
    expect(cut.code).toBe(0);
    expect(cut.stdout.split("\n").slice(0, SQL_MAX_ROWS + 1)).toEqual(["n", "0", "1", "2", "3", "4"]);
    expect(cut.stdout).toContain(`${SQL_MAX_ROWS} rows (read `);
    expect(cut.stdout).toContain(
      `the answer holds only the first ${SQL_MAX_ROWS} rows: the query returns more (raise the service's EVENTFOLD_ANALYTICS_SQL_MAX_ROWS or narrow the query)`,
    );

    const outside = await analyst(service, "sql", "SELECT name FROM system.tables");
    expect([outside.code, outside.stdout]).toEqual([1, ""]);
    expect(outside.stderr).toContain("403 query_not_allowed: system.tables is not one of the documented");

    const missing = await analyst(service, "sql", "--format", "csv");
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining("sql needs a query")]);
    const badFormat = await analyst(service, "sql", sums, "--format", "xml");
    expect([badFormat.code, badFormat.stderr]).toEqual([
      2,
      expect.stringContaining("--format is one of table, csv, json, not xml"),
    ]);
    // The reader key is one: the operators' verbs stay closed to it.
    const operator = await analyst(service, "projections");
    expect([operator.code, operator.stderr]).toEqual([1, expect.stringContaining("403")]);
  });

  // Last: the account whose event is discarded stays behind the store for good.
  test("pause holds a projection's events back, resume applies them; discard drops one dead letter, logged with the key's name", async () => {
    const api = createEventfoldClient({ baseUrl: service.url, token: TOKEN });
    await api.POST("/v1/accounts", { body: { accountId: "cli-2", owner: "cli", currency: "EUR" } });
    const params = { path: { id: "cli-2" } };

    const paused = await cli(service, "pause", "accounts");
    expect([paused.code, paused.stdout]).toEqual([0, expect.stringMatching(/^accounts is paused: /)]);
    const deposit = await api.POST("/v1/accounts/{id}/deposits", { params, body: { amount: 5 } });
    const minVersion = deposit.data?.version ?? 0;
    const waiting = await eventually(
      async () => (await cli(service, "projections")).stdout,
      (out) => /^accounts\s+paused\s+[1-9]/m.test(out),
      10_000,
    );
    expect(waiting).toMatch(/^analytics\s+running\s/m);
    const behind = await api.GET("/v1/accounts/{id}", { params });
    expect(behind.data?.version).toBe(minVersion - 1);
    const resumed = await cli(service, "resume", "accounts");
    expect([resumed.code, resumed.stdout]).toEqual([0, "accounts is running\n"]);
    const read = await api.GET("/v1/accounts/{id}", { params: { ...params, query: { minVersion } } });
    expect(read.data).toMatchObject({ balance: 5, version: minVersion });

    broken = true;
    await api.POST("/v1/accounts/{id}/deposits", { params, body: { amount: 777 } });
    const letters = await eventually(
      async () =>
        (await api.GET("/v1/admin/dead-letters", { params: { query: { projection: "accounts" } } })).data
          ?.deadLetters.accounts ?? [],
      (l) => l.length === 1,
      10_000,
    );
    const eventId = letters[0]?.event.eventId ?? "";
    const discarded = await cli(service, "discard", "accounts", eventId);
    expect([discarded.code, discarded.stdout]).toEqual([
      0,
      `discarded ${eventId} of accounts: it is not applied from the dead letters\n`,
    ]);
    expect(logged.lines).toContainEqual(
      expect.objectContaining({ level: "warn", projection: "accounts", eventId, by: "ops" }),
    );
    const gone = await cli(service, "discard", "accounts", eventId);
    expect([gone.code, gone.stderr]).toEqual([1, expect.stringContaining("404")]);
    const replayMissing = await cli(service, "replay", "accounts", eventId);
    expect([replayMissing.code, replayMissing.stderr]).toEqual([1, expect.stringContaining("404")]);
    broken = false;
  });
});
