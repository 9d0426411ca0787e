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
import { consumerProject, runNode } from "./support/client-package.ts";
import { quiesce, readEverything, runWorkload, startWorkload } from "./support/read-side.ts";
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

/** The example running against `url`, once it listens: its process and its address. */
const startExample = async (url: string) => {
  const example = runNode(project, "statements.js", {
    EVENTFOLD_URL: url,
    STATEMENTS_DB: join(project, "statements.sqlite"),
    PORT: "0",
  });
  const address = await example.line((line) => line.match(/statements on (http:\/\/127\.0\.0\.1:\d+)/)?.[1]);
  return { ...example, address };
};

const statusOf = async (address: string) =>
  (await (await fetch(`${address}/status`)).json()) as {
    position: number;
    caughtUp: boolean;
    handled: number;
  };

const credits = new Set(["MoneyDeposited", "TransferCredited", "TransferDebitReversed"]);
const debits = new Set(["MoneyWithdrawn", "TransferDebited"]);

test("the example's monthly statements match the service's balances and the stored movements", async () => {
  const service = await startTestService();
  const api = createEventfoldClient({ baseUrl: service.url });
  // Killed in the middle of the stream: while commands are still arriving, once it has applied some.
  const first = await startExample(service.url);
  const load = startWorkload(api, { prefix: "statement", accounts: 15, concurrency: 4 });
  await pollUntil(
    () => statusOf(first.address),
    (s) => s.handled >= 100,
    { timeoutMs: 30_000 },
  );
  first.child.kill(9);
  await first.child.exited;
  const before = await load.stop();
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
    () => statusOf(example.address),
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
  expect(await example.stderr).toBe("");
  await service.dispose();
}, 180_000);
