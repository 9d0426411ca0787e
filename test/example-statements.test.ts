/**
 * examples/statements, another service in plain Node, installed with the packed `@eventfold/client`
 * only: it follows a real service through a load (and a kill -9), and its statements add up to the
 * service's balances and to the movements the store holds.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createEventfoldClient } from "../packages/client/src/index.ts";
import { pollUntil } from "../src/lib/poll.ts";
import { consumerProject } from "./support/client-package.ts";
import { quiesce, readEverything, runWorkload } from "./support/read-side.ts";
import { startTestService } from "./support/service.ts";

const example = readFileSync(new URL("../examples/statements/statements.js", import.meta.url), "utf8");
const project = await consumerProject(["node-sqlite3-wasm"], { "statements.js": example });
afterAll(() => rmSync(project, { recursive: true, force: true }));

interface Statement {
  month: string;
  currency: string;
  opening: number;
  credits: number;
  debits: number;
  closing: number;
  movements: number;
}

/** The example running against `url`; resolves with its process and address once it listens. */
const startExample = async (url: string) => {
  const child = Bun.spawn(["node", "statements.js"], {
    cwd: project,
    env: { ...process.env, EVENTFOLD_URL: url, STATEMENTS_DB: join(project, "statements.sqlite"), PORT: "0" },
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the example stopped: ${said}`);
    said += value;
    const address = said.match(/statements on (http:\/\/127\.0\.0\.1:\d+)/)?.[1];
    if (address) {
      // Its further lines (caught up, reconnections) are read and dropped, so it never blocks on a full pipe.
      void (async () => {
        while (!(await reader.read()).done);
      })();
      return { child, address };
    }
  }
};

const credits = new Set(["MoneyDeposited", "TransferCredited", "TransferDebitReversed"]);
const debits = new Set(["MoneyWithdrawn", "TransferDebited"]);

test("the example's monthly statements match the service's balances and the stored movements", async () => {
  const service = await startTestService();
  const api = createEventfoldClient({ baseUrl: service.url });
  const first = await startExample(service.url);
  const before = await runWorkload(api, { prefix: "statement", accounts: 15, commands: 300, concurrency: 4 });
  first.child.kill(9);
  await first.child.exited;
  const after = await runWorkload(api, {
    prefix: "statement",
    accounts: 15,
    commands: 300,
    seed: 7,
    concurrency: 4,
  });
  const example = await startExample(service.url);
  await quiesce(api, service.engine.store, {
    ...after,
    transfers: [...before.transfers, ...after.transfers],
  });

  const movements = (await readEverything(service.engine.store)).filter((e) => e.aggregateType === "account");
  const last = movements.at(-1)?.position ?? 0;
  const status = await pollUntil(
    async () =>
      (await fetch(`${example.address}/status`)).json() as Promise<{ position: number; caughtUp: boolean }>,
    (s) => s.caughtUp && s.position >= last,
    { timeoutMs: 60_000 },
  );
  expect(status?.position).toBeGreaterThanOrEqual(last);

  let moved = 0;
  for (const id of after.accounts) {
    const account = await api.GET("/v1/accounts/{id}", { params: { path: { id } } });
    const { statements } = (await (await fetch(`${example.address}/accounts/${id}/statements`)).json()) as {
      statements: Statement[];
    };
    const mine = movements.filter((e) => e.streamId === `account-${id}`);
    const sum = (types: Set<string>) =>
      mine
        .filter((e) => types.has(e.type))
        .reduce((total, e) => total + (e.data as { amount: number }).amount, 0);
    const month = statements.at(-1);
    expect({ id, closing: month?.closing, opening: statements[0]?.opening }).toEqual({
      id,
      closing: account.data?.balance,
      opening: 0,
    });
    expect({
      id,
      credits: statements.reduce((t, s) => t + s.credits, 0),
      debits: statements.reduce((t, s) => t + s.debits, 0),
      movements: statements.reduce((t, s) => t + s.movements, 0),
    }).toEqual({
      id,
      credits: sum(credits),
      debits: sum(debits),
      movements: mine.filter((e) => credits.has(e.type) || debits.has(e.type)).length,
    });
    for (const s of statements) expect(s.opening + s.credits - s.debits).toBe(s.closing);
    moved += statements.reduce((t, s) => t + s.movements, 0);
  }
  expect(moved).toBeGreaterThan(300);

  example.child.kill("SIGTERM");
  expect(await example.child.exited).toBe(0);
  await service.dispose();
}, 180_000);
