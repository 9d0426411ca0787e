/**
 * `@eventfold/client` as a Node service gets it: the packed tarball holds built JavaScript and its
 * types and nothing else, plain `node` runs it against a real service, and `tsc` checks a consumer's
 * TypeScript against its types.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { consumerProject, packClient } from "./support/client-package.ts";
import { startTestService, type TestService } from "./support/service.ts";

const root = new URL("..", import.meta.url).pathname;

/** What the Node script does: every call a service starts with, and a problem answer. */
const script = `
import { createEventfoldClient, memoryCheckpoint } from "@eventfold/client";
import { fileCheckpoint } from "@eventfold/client/file-checkpoint";

const api = createEventfoldClient({ baseUrl: process.env.EVENTFOLD_URL });
const opened = await api.POST("/v1/accounts", { body: { accountId: "node-1", owner: "Ada", currency: "EUR" } });
const deposited = await api.POST("/v1/accounts/{id}/deposits", {
  params: { path: { id: "node-1" } },
  body: { amount: 1250 },
  headers: { "Idempotency-Key": "node-deposit-1" },
});
const read = await api.GET("/v1/accounts/{id}", { params: { path: { id: "node-1" } } });
const refused = await api.POST("/v1/accounts/{id}/withdrawals", {
  params: { path: { id: "node-1" } },
  body: { amount: 99999 },
});
const checkpoint = memoryCheckpoint();
const seen = [];
const subscription = api.subscribe({ checkpoint, handle: (event) => { seen.push(event.type); } });
await subscription.caughtUp;
await subscription.stop();
const file = fileCheckpoint(process.env.CHECKPOINT_FILE);
await file.save(checkpoint.position);
console.log(JSON.stringify({
  node: process.version,
  opened: opened.response.status,
  deposited: deposited.data,
  read: read.data,
  refused: { status: refused.response.status, contentType: refused.response.headers.get("content-type"), problem: refused.error },
  seen,
  checkpoint: checkpoint.position,
  fileCheckpoint: await file.load(),
}));
`;

/** A consumer's TypeScript: what must typecheck, and what must not (each @ts-expect-error must be an error). */
const consumerTs = `
import { createEventfoldClient, type EventEnvelope, type Problem, SubscriptionError } from "@eventfold/client";

const api = createEventfoldClient({ baseUrl: "http://127.0.0.1:3000", token: "secret" });
export const balance = async (id: string): Promise<number | undefined> => {
  const { data, error } = await api.GET("/v1/accounts/{id}", { params: { path: { id } } });
  if (error) {
    const problem: Problem = error;
    return problem.code === "not_found" ? undefined : Number.NaN;
  }
  return data.balance;
};
export const deposit = () =>
  // @ts-expect-error an amount is a number of minor units, never a string
  api.POST("/v1/accounts/{id}/deposits", { params: { path: { id: "a" } }, body: { amount: "5" } });
// @ts-expect-error no such route
export const nowhere = () => api.GET("/v1/nowhere");
export const follow = () =>
  api.subscribe({
    filters: { aggregateType: "account", type: ["MoneyDeposited", "MoneyWithdrawn"] },
    checkpoint: { load: () => 0 },
    handle: (event: EventEnvelope) => {
      const position: number = event.position;
      return void position;
    },
  }).done.catch((error: unknown) => error instanceof SubscriptionError && error.event?.position);
`;

let service: TestService;
let project: string;
beforeAll(async () => {
  service = await startTestService();
  project = await consumerProject([], { "script.mjs": script, "consumer.ts": consumerTs });
}, 120_000);
afterAll(async () => {
  await service.dispose();
  rmSync(project, { recursive: true, force: true });
});

describe("the packed client", () => {
  test("holds its built JavaScript, its types, its manifest, README and licence: nothing of the service", async () => {
    const { files } = await packClient();
    const paths = files.map((f) => f.path).sort();
    expect(paths).toEqual([
      "LICENSE",
      "README.md",
      "dist/checkpoint.d.ts",
      "dist/checkpoint.js",
      "dist/file-checkpoint.d.ts",
      "dist/file-checkpoint.js",
      "dist/index.d.ts",
      "dist/index.js",
      "dist/schema.d.ts",
      "dist/schema.js",
      "dist/subscription.d.ts",
      "dist/subscription.js",
      "package.json",
    ]);
    const manifest = (await Bun.file(
      join(project, "node_modules/@eventfold/client/package.json"),
    ).json()) as {
      dependencies: Record<string, string>;
      exports: Record<string, { types?: string; import?: string }>;
    };
    expect(Object.keys(manifest.dependencies).sort()).toEqual(["eventsource-parser", "openapi-fetch"]);
    expect(manifest.exports["."]).toEqual({ types: "./dist/index.d.ts", import: "./dist/index.js" });
  });

  test("plain node opens, deposits, reads, gets a problem and follows the log", async () => {
    const child = Bun.spawn(["node", "script.mjs"], {
      cwd: project,
      env: { ...process.env, EVENTFOLD_URL: service.url, CHECKPOINT_FILE: join(project, "checkpoint.json") },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out, err] = await Promise.all([
      child.exited,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    const said = JSON.parse(out);
    expect(said.node).toMatch(/^v\d+\./);
    expect(said.opened).toBe(201);
    expect(said.deposited).toEqual({ accountId: "node-1", version: 2, balance: 1250 });
    expect(said.read).toMatchObject({ accountId: "node-1", owner: "Ada", balance: 1250, currency: "EUR" });
    expect(said.refused.status).toBe(409);
    expect(said.refused.contentType).toStartWith("application/problem+json");
    expect(said.refused.problem.code).toBe("insufficient_funds");
    expect(said.seen).toEqual(["AccountOpened", "MoneyDeposited"]);
    expect(said.checkpoint).toBe(2);
    expect(said.fileCheckpoint).toBe(2);
  }, 30_000);

  test("tsc checks a consumer's TypeScript against the package's types", async () => {
    await Bun.write(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "NodeNext",
          moduleResolution: "NodeNext",
          target: "ES2022",
          lib: ["ES2022", "DOM"],
          types: [],
          strict: true,
          noEmit: true,
        },
        files: ["consumer.ts"],
      }),
    );
    const tsc = Bun.spawn([join(root, "node_modules/.bin/tsc"), "-p", project], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out] = await Promise.all([tsc.exited, new Response(tsc.stdout).text()]);
    expect({ code, out }).toEqual({ code: 0, out: "" });
  }, 30_000);
});
