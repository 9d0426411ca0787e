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
import { pollUntil } from "../src/lib/poll.ts";
import { consumerProject } from "./support/client-package.ts";
import { quiesce, readEverything, runWorkload } from "./support/read-side.ts";
import { startTestService } from "./support/service.ts";

const consumerScript = readFileSync(new URL("./support/applied-log-consumer.js", import.meta.url), "utf8");

/** One life of the consumer: its process and what it reported, line by line. */
const startConsumer = (project: string, url: string) => {
  const child = Bun.spawn(["node", "consumer.js"], {
    cwd: project,
    env: { ...process.env, EVENTFOLD_URL: url, CONSUMER_DB: join(project, "consumer.sqlite") },
    stdout: "pipe",
    stderr: "pipe",
  });
  const applied: number[] = [];
  const caughtUp: number[] = [];
  const reading = (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        const [what, position] = line.split(" ");
        (what === "applied" ? applied : caughtUp).push(Number(position));
      }
    }
  })();
  const stderr = new Response(child.stderr).text();
  return { child, applied, caughtUp, reading, stderr };
};

const project = await consumerProject(["node-sqlite3-wasm"], { "consumer.js": consumerScript });
afterAll(() => rmSync(project, { recursive: true, force: true }));

test("a consumer killed with -9 mid-stream and restarted applies every event exactly once, in order", async () => {
  const service = await startTestService();
  const api = createEventfoldClient({ baseUrl: service.url });
  let writing = true;
  const load = runWorkload(api, {
    prefix: "kill9",
    accounts: 20,
    commands: Number.MAX_SAFE_INTEGER,
    concurrency: 2,
    keepGoing: () => writing,
  });
  const lives: { applied: number; from: number | undefined }[] = [];
  for (let life = 0; life < 5; life++) {
    const consumer = startConsumer(project, service.url);
    // Killed somewhere in the stream: after a number of events it applied in this life.
    const target = 20 + Math.floor(Math.random() * 120);
    await pollUntil(
      () => consumer.applied.length,
      (n) => n >= target,
      { timeoutMs: 30_000 },
    );
    consumer.child.kill(9);
    await consumer.child.exited;
    await consumer.reading;
    expect(consumer.applied.length).toBeGreaterThanOrEqual(target);
    lives.push({ applied: consumer.applied.length, from: consumer.applied[0] });
  }
  writing = false;
  const workload = await load;
  await quiesce(api, service.engine.store, workload);
  const stored = await readEverything(service.engine.store);
  const head = stored.at(-1)?.position ?? 0;

  const last = startConsumer(project, service.url);
  const reached = await pollUntil(
    () => last.caughtUp.at(-1) ?? 0,
    (position) => position >= head,
    { timeoutMs: 60_000 },
  );
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
  // Every life but the first began after the position the one before had committed, not at the start.
  expect(lives.slice(1).every((l) => (l.from ?? 0) > 1)).toBe(true);
  expect(rows.length).toBe(stored.length);
  expect(rows.map((r) => r.position)).toEqual(stored.map((e) => e.position));
  expect(rows.map((r) => r.eventId)).toEqual(stored.map((e) => e.eventId));
}, 180_000);
