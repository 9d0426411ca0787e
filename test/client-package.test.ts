/**
 * `@eventfold/client` as another service gets it: the packed tarball holds built JavaScript and its
 * types and nothing else; plain `node`, Bun and Deno run it against a real service; `tsc` checks a
 * consumer's TypeScript against its types. (A browser runs it in client-browser.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { calls, consumerProject, expectServiceCalls, headOf, packClient } from "./support/client-package.ts";
import { startTestService, type TestService } from "./support/service.ts";

const root = new URL("..", import.meta.url).pathname;

/** The same calls from a server runtime (Node, Bun, Deno), with the file checkpoint, printed as JSON. */
const script = `
import { fileCheckpoint } from "@eventfold/client/file-checkpoint";
import { exercise } from "./calls.mjs";

const said = await exercise(process.env.EVENTFOLD_URL, process.env.ACCOUNT_ID);
const file = fileCheckpoint(process.env.CHECKPOINT_FILE);
await file.save(said.checkpoint);
console.log(JSON.stringify({ ...said, fileCheckpoint: await file.load() }));
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
  project = await consumerProject([], {
    "calls.mjs": calls,
    "script.mjs": script,
    "consumer.ts": consumerTs,
  });
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

  const runtimes: Record<string, string[]> = {
    node: ["node", "script.mjs"],
    bun: [process.execPath, "script.mjs"],
    deno: [
      join(root, "node_modules/.bin/deno"),
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "script.mjs",
    ],
  };
  for (const [runtime, command] of Object.entries(runtimes)) {
    test(`${runtime} runs it: opens, deposits, reads, gets a problem and follows the log`, async () => {
      const id = `${runtime}-1`;
      const child = Bun.spawn(command, {
        cwd: project,
        env: {
          ...process.env,
          EVENTFOLD_URL: service.url,
          ACCOUNT_ID: id,
          CHECKPOINT_FILE: join(project, `${runtime}-checkpoint.json`),
          NO_COLOR: "1",
        },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, out, err] = await Promise.all([
        child.exited,
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
      ]);
      expect({ code, err }).toEqual({ code: 0, err: "" });
      expectServiceCalls(JSON.parse(out), id, await headOf(service));
    }, 30_000);
  }

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
