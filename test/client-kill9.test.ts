/**
 * Exactly once under kill -9: a Node consumer of the packed `@eventfold/client` that keeps its
 * position in the same SQLite transaction as its effects is killed again and again mid-stream while
 * commands keep arriving; restarted each time, it ends with every stored event applied once, in order.
 */

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createEventfoldClient } from "../packages/client/src/index.ts";
import { consumerProject, runNode } from "./support/client-package.ts";
import { quiesce, readEverything, startWorkload } from "./support/read-side.ts";
import { startTestService } from "./support/service.ts";

const consumerScript = readFileSync(new URL("./support/applied-log-consumer.js", import.meta.url), "utf8");

/** One life of the consumer: its process, and the positions it says it applied. */
const startConsumer = (project: string, url: string) => {
  const consumer = runNode(project, "consumer.js", {
    EVENTFOLD_URL: url,
    CONSUMER_DB: join(project, "consumer.sqlite"),
  });
  const applied = () => consumer.lines.filter((l) => l.startsWith("applied ")).map((l) => Number(l.slice(8)));
  return { ...consumer, applied };
};

const project = await consumerProject(["node-sqlite3-wasm"], { "consumer.js": consumerScript });
afterAll(() => rmSync(project, { recursive: true, force: true }));

test("a consumer killed with -9 mid-stream and restarted applies every event exactly once, in order", async () => {
  const service = await startTestService();
  const api = createEventfoldClient({ baseUrl: service.url });
  const load = startWorkload(api, { prefix: "kill9", accounts: 20, concurrency: 2 });
  /** Each life's first and last position applied, as it said (a kill can land after a commit, before the line). */
  const lives: { first: number; last: number }[] = [];
  for (let life = 0; life < 5; life++) {
    const consumer = startConsumer(project, service.url);
    // Killed somewhere in the stream: after a number of events it applied in this life.
    const target = 20 + Math.floor(Math.random() * 120);
    let applied = 0;
    await consumer.line((line) => (line.startsWith("applied ") && ++applied >= target ? true : undefined));
    consumer.child.kill(9);
    await consumer.child.exited;
    await consumer.closed;
    const positions = consumer.applied();
    lives.push({ first: positions[0] ?? 0, last: positions.at(-1) ?? 0 });
  }
  const workload = await load.stop();
  await quiesce(api, service.engine.store, workload);
  const stored = await readEverything(service.engine.store);
  const head = stored.at(-1)?.position ?? 0;

  const last = startConsumer(project, service.url);
  const reached = await last.line((line) => {
    const at = line.startsWith("caught-up ") ? Number(line.slice(10)) : 0;
    return at >= head ? at : undefined;
  });
  expect(reached).toBe(head);
  last.child.kill("SIGTERM");
  expect(await last.child.exited).toBe(0);
  expect(await last.stderr).toBe("");
  await service.dispose();

  const db = new Database(join(project, "consumer.sqlite"), { readonly: true });
  const rows = db.query("SELECT position, event_id AS eventId FROM applied ORDER BY seq").all() as {
    position: number;
    eventId: string;
  }[];
  db.close();
  // Each life after the first began with the event after the last one the life before committed (which
  // is the last it said, or, where the kill fell between its commit and its line, the one after).
  const committed = rows.map((r) => r.position);
  for (const [i, life] of lives.entries()) {
    if (i === 0) continue;
    const before = committed[committed.indexOf(life.first) - 1] ?? 0;
    expect(before).toBeGreaterThanOrEqual(lives[i - 1]?.last ?? 0);
    expect(life.first).toBeGreaterThan(lives[i - 1]?.last ?? 0);
  }
  expect(rows.length).toBe(stored.length);
  expect(rows.map((r) => r.position)).toEqual(stored.map((e) => e.position));
  expect(rows.map((r) => r.eventId)).toEqual(stored.map((e) => e.eventId));
}, 180_000);
