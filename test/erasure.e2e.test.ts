import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import { spawnService } from "../app/spawn.ts";
import { removeDeployment } from "../app/teardown.ts";
import { createEventfoldClient } from "../packages/client/src/index.ts";
import type { Config } from "../src/config.ts";
import { fromHex, leafHash, verifyInclusion } from "../src/ledger/merkle.ts";
import { fromBase64url } from "../src/ledger/signing.ts";
import { verified, verifyLedger } from "../src/ledger/verify.ts";
import { openVerifySource } from "../src/store/sqlite/ledger.ts";
import { eventually } from "./support/http.ts";
import {
  expectReadModelsMatchStore,
  fullStack,
  quiesce,
  serverErrors,
  startWorkload,
} from "./support/read-side.ts";
import { describeWith, type Server } from "./support/servers.ts";
import { startTestService, tempDir } from "./support/service.ts";
import { freePort } from "./support/subprocess.ts";

const modes: [string, Partial<Config>, Server[]][] = [
  ["full stack (RabbitMQ, Redis, ClickHouse on chDB)", fullStack, ["RabbitMQ", "Redis"]],
  ["embedded (in-process broker, map, chDB)", {}, []],
];

/** The raw bytes of every SQLite file of the data directory (the events', the keys', the dead letters'). */
const sqliteFiles = (dataDir: string): [string, Buffer][] =>
  readdirSync(dataDir)
    .filter((name) => /\.sqlite(-wal|-shm)?$/.test(name))
    .map((name) => [name, readFileSync(join(dataDir, name))]);

/** Every value of every hash the Redis server holds (the hot lookups' documents). */
const redisValues = async (url: string): Promise<string[]> => {
  const redis = new Redis(url);
  try {
    const values: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "COUNT", 1000);
      cursor = next;
      for (const key of keys)
        if ((await redis.type(key)) === "hash") values.push(key, ...Object.values(await redis.hgetall(key)));
    } while (cursor !== "0");
    return values;
  } finally {
    redis.disconnect();
  }
};

for (const [mode, overrides, needs] of modes)
  describeWith(needs, `erasing a data subject, ${mode}`, () => {
    test("while deposits and transfers run: one answer each, money conserved, the tree verifies, and the plaintext is found nowhere", async () => {
      const service = await startTestService({ ...overrides, checkResponses: true });
      try {
        const api = createEventfoldClient({ baseUrl: service.url });
        // Names and references no other test writes, to search for.
        const tag = Bun.randomUUIDv7().slice(-12);
        const owner = `Zelda Quartermain ${tag}`;
        const reference = `rent for flat ${tag}`;
        const victim = `victim-${tag}`;
        const other = `bystander-${tag}`;
        for (const [id, name] of [
          [victim, owner],
          [other, `Yusuf Bystander ${tag}`],
        ] as const)
          expect(
            (await api.POST("/v1/accounts", { body: { accountId: id, owner: name, currency: "EUR" } }))
              .response.status,
          ).toBe(201);
        const workload = startWorkload(api, { prefix: `erase-${tag}`, accounts: 30 });
        // The victim's own traffic, before, during and after the erasure: references, transfers both ways.
        const statuses: number[] = [];
        let going = true;
        const victimTraffic = (async () => {
          for (let i = 0; going; i++) {
            const answers = await Promise.all([
              api.POST("/v1/accounts/{id}/deposits", {
                params: { path: { id: victim } },
                body: { amount: 100, reference: `${reference} #${i}` },
              }),
              api.POST("/v1/transfers", { body: { from: victim, to: other, amount: 30 } }),
              api.POST("/v1/transfers", { body: { from: other, to: victim, amount: 10 } }),
              api.POST("/v1/accounts/{id}/withdrawals", {
                params: { path: { id: victim } },
                body: { amount: 5, reference: `${reference} cash` },
              }),
            ]);
            statuses.push(...answers.map((a) => a.response.status));
          }
        })();
        // A command under an idempotency key before the erasure: its fingerprint hashes the reference.
        const keyed = () =>
          api.POST("/v1/accounts/{id}/deposits", {
            params: { path: { id: victim }, header: { "Idempotency-Key": `keyed-${tag}` } },
            body: { amount: 7, reference: `${reference} keyed` },
          });
        const first = await keyed();
        expect(first.response.status).toBe(200);
        // The plaintext is there before: the erasure has something to erase.
        const before = await api.GET("/v1/accounts/{id}/state", { params: { path: { id: victim } } });
        expect(before.data?.owner).toBe(owner);
        await Bun.sleep(300);
        const erased = await api.POST("/v1/admin/subjects/{subjectId}/erase", {
          params: { path: { subjectId: victim } },
          body: { reason: "the customer asked to be forgotten" },
        });
        expect(erased.response.status).toBe(200);
        expect(erased.data).toMatchObject({ subjectId: victim, erasedBy: "anonymous" });
        // The same answer again; a subject never seen is 404.
        const again = await api.POST("/v1/admin/subjects/{subjectId}/erase", {
          params: { path: { subjectId: victim } },
          body: { reason: "again" },
        });
        expect(again.data).toEqual(erased.data as NonNullable<typeof erased.data>);
        const never = await api.POST("/v1/admin/subjects/{subjectId}/erase", {
          params: { path: { subjectId: `nobody-${tag}` } },
          body: { reason: "x" },
        });
        expect(never.response.status).toBe(404);
        await Bun.sleep(300);
        going = false;
        await victimTraffic;
        const done = await workload.stop();
        expect(serverErrors(done)).toEqual([]);
        expect(statuses.filter((s) => s >= 500)).toEqual([]);
        expect(statuses.filter((s) => s < 300).length).toBeGreaterThan(8);

        // The read models equal the store's replay (the hot document's owner blanked as the replay's
        // is), analytics sums equal the store's, and money is conserved.
        const truth = await quiesce(api, service.engine.store, {
          ...done,
          accounts: [...done.accounts, victim, other],
        });
        await expectReadModelsMatchStore(api, truth);

        // Sent again after the erasure, the keyed command is answered as it was, never decided twice.
        const again2 = await keyed();
        expect(again2.response.status).toBe(200);
        expect(again2.data).toEqual(first.data as NonNullable<typeof first.data>);

        // Every read path shows the fields erased; money and versions as they were.
        const state = await api.GET("/v1/accounts/{id}/state", { params: { path: { id: victim } } });
        expect(state.data).toMatchObject({ owner: "[erased]", balance: truth.balances.get(victim) });
        const hot = await api.GET("/v1/accounts/{id}", { params: { path: { id: victim } } });
        expect(hot.data?.owner).toBe("[erased]");
        const events = await api.GET("/v1/accounts/{id}/events", {
          params: { path: { id: victim }, query: { limit: 1000 } },
        });
        const stream = events.data?.events ?? [];
        expect(stream.map((e) => e.version)).toEqual(stream.map((_, i) => i + 1));
        const opened = stream.find((e) => e.type === "AccountOpened");
        expect(opened?.data.owner).toBe("[erased]");
        expect(opened?.erased).toEqual(["owner"]);
        const withReference = stream.filter((e) => "reference" in e.data);
        expect(withReference.length).toBeGreaterThan(2);
        for (const e of withReference) {
          expect(e.data.reference).toBe("[erased]");
          expect(e.erased).toEqual(["reference"]);
        }
        const atFirst = await api.GET("/v1/accounts/{id}/state", {
          params: { path: { id: victim }, query: { atVersion: 1 } },
        });
        expect(atFirst.data?.owner).toBe("[erased]");
        // The bystander is untouched.
        const bystander = await api.GET("/v1/accounts/{id}", { params: { path: { id: other } } });
        expect(bystander.data?.owner).toBe(`Yusuf Bystander ${tag}`);
        // The subscription feed: erased too, and the erasure itself is in the log.
        const feed: {
          type: string;
          streamId: string;
          data: Record<string, unknown>;
          erased?: readonly string[];
        }[] = [];
        for (let after = 0; ; ) {
          const page = await api.GET("/v1/events", { params: { query: { after, limit: 1000 } } });
          const got = page.data?.events ?? [];
          if (got.length === 0) break;
          feed.push(...got);
          after = page.data?.next ?? after;
        }
        expect(feed.filter((e) => e.type === "SubjectErased").map((e) => e.streamId)).toEqual([
          `subject-${victim}`,
        ]);
        const opening = feed.find((e) => e.streamId === `account-${victim}` && e.type === "AccountOpened");
        expect(opening?.data.owner).toBe("[erased]");

        // The tree covers the ciphertext: it verifies, and the erased event's inclusion proof checks out.
        const head = await api.GET("/v1/ledger/head");
        const proof = await api.GET("/v1/ledger/proof/inclusion", {
          params: { query: { position: opened?.position ?? 0, treeSize: head.data?.treeSize } },
        });
        const p = proof.data;
        if (!p || !head.data) throw new Error("no proof");
        expect(
          verifyInclusion(
            leafHash(fromBase64url(p.leaf)),
            p.leafIndex,
            p.treeSize,
            p.path.map(fromHex),
            fromHex(head.data.rootHash),
          ),
        ).toBe(true);
        const db = new Database(join(service.config.dataDir, "events.sqlite"), { readonly: true });
        try {
          const verification = await verifyLedger(openVerifySource(db));
          expect(verification.break).toBeUndefined();
          expect(verified(verification)).toBe(true);
        } finally {
          db.close();
        }

        // No rebuild brings them back: both projections refilled from the store.
        for (const name of ["accounts", "analytics"]) {
          const started = await api.POST("/v1/admin/projections/{name}/rebuild", {
            params: { path: { name } },
          });
          expect(started.response.status).toBe(202);
          await eventually(
            async () =>
              (await api.GET("/v1/admin/projections")).data?.projections.find((p) => p.name === name),
            (p) => p?.state === "running" && p.rebuild?.finishedAt !== undefined,
            30_000,
          );
        }
        await expectReadModelsMatchStore(api, truth);
        const rebuilt = await api.GET("/v1/accounts/{id}", { params: { path: { id: victim } } });
        expect(rebuilt.data?.owner).toBe("[erased]");

        // Nowhere: the raw SQLite files, the analysts' tables, the Redis documents.
        for (const [name, bytes] of sqliteFiles(service.config.dataDir))
          expect([name, bytes.includes(owner), bytes.includes(reference)]).toEqual([name, false, false]);
        for (const query of [
          "SELECT count() AS n FROM {views:Identifier}.events WHERE position(data, {owner:String}) > 0 OR position(data, {reference:String}) > 0",
          "SELECT count() AS n FROM {views:Identifier}.events WHERE aggregate_id = {victim:String} AND position(data, '[erased]') > 0",
        ]) {
          const views = `${service.config.analyticsSchema}_v1`;
          const answer = await api.POST("/v1/analytics/sql", {
            body: { query, params: { views, owner, reference, victim } },
          });
          expect(answer.response.status).toBe(200);
          const n = (answer.data?.rows?.[0] as unknown[] | undefined)?.[0];
          if (query.includes("'[erased]'")) expect(Number(n)).toBeGreaterThan(2);
          else expect(Number(n)).toBe(0);
        }
        if (overrides.redisUrl) {
          const values = await redisValues(overrides.redisUrl);
          expect(values.filter((v) => v.includes(owner) || v.includes(reference))).toEqual([]);
        }
        expect(existsSync(join(service.config.dataDir, "subject-keys.sqlite"))).toBe(true);
      } finally {
        await service.dispose();
        await removeDeployment(service.config);
      }
    }, 180_000);
  });

test("logs (at debug), metrics and the erasure's own log line carry no personal data", async () => {
  const dataDir = tempDir();
  const port = freePort();
  const server = await spawnService({
    port,
    env: { EVENTFOLD_DATA_DIR: dataDir, LOG_LEVEL: "debug", EVENTFOLD_CHECK_RESPONSES: "1" },
    args: ["all"],
    stdout: "pipe",
  });
  const out = new Response(server.process.stdout as ReadableStream<Uint8Array>).text();
  try {
    const tag = Bun.randomUUIDv7().slice(-12);
    const owner = `Quincy Lognot ${tag}`;
    const reference = `private note ${tag}`;
    const api = createEventfoldClient({ baseUrl: server.url });
    await api.POST("/v1/accounts", { body: { accountId: `logs-${tag}`, owner, currency: "EUR" } });
    await api.POST("/v1/accounts/{id}/deposits", {
      params: { path: { id: `logs-${tag}` } },
      body: { amount: 10, reference },
    });
    // Refused requests too: a body that fails validation, and a command on an account that is not there.
    await api.POST("/v1/accounts", {
      body: { accountId: `logs-${tag}`, owner: `${owner}\u0000`, currency: "EUR" },
    });
    await api.POST("/v1/accounts/{id}/withdrawals", {
      params: { path: { id: `missing-${tag}` } },
      body: { amount: 10, reference },
    });
    const erased = await api.POST("/v1/admin/subjects/{subjectId}/erase", {
      params: { path: { subjectId: `logs-${tag}` } },
      body: { reason: "asked" },
    });
    expect(erased.response.status).toBe(200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect([metrics.includes(owner), metrics.includes(reference)]).toEqual([false, false]);
    server.process.kill("SIGTERM");
    await server.exited;
    const logs = await out;
    expect(logs).toContain("a data subject was erased");
    expect(logs.split("\n").length).toBeGreaterThan(5);
    expect([logs.includes(owner), logs.includes(reference), logs.includes("Quincy")]).toEqual([
      false,
      false,
      false,
    ]);
  } finally {
    server.process.kill(9);
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);
