/**
 * `@eventfold/client` as another service gets it: `npm pack`ed (its `prepack` builds it), installed
 * from the tarball into a project of its own, and run there by plain `node`.
 */

import { expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./config.ts";
import { readEverything } from "./read-side.ts";
import type { TestService } from "./service.ts";

const root = new URL("../..", import.meta.url).pathname;
export const clientDir = join(root, "packages/client");

const run = async (command: string[], cwd: string): Promise<string> => {
  const child = Bun.spawn(command, { cwd, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  if (code !== 0) throw new Error(`${command.join(" ")} failed (${code}):\n${out}\n${err}`);
  return out;
};

export interface PackedFile {
  readonly path: string;
  readonly size: number;
}

export interface Packed {
  readonly tarball: string;
  readonly files: readonly PackedFile[];
}

let packed: Promise<Packed> | undefined;
/** The package's tarball, made once per test run. */
export const packClient = (): Promise<Packed> => {
  packed ??= (async () => {
    const destination = tempDir("eventfold-pack-");
    const out = await run(["npm", "pack", "--json", "--pack-destination", destination], clientDir);
    // npm prints the prepack script's output before the JSON.
    const [report] = JSON.parse(out.slice(out.indexOf("["))) as { filename: string; files: PackedFile[] }[];
    if (!report) throw new Error(`npm pack said nothing: ${out}`);
    return { tarball: join(destination, report.filename), files: report.files };
  })();
  return packed;
};

/** The version of a package this repository installed, so a consumer project installs the same from npm's cache. */
const installedVersion = async (name: string): Promise<string> =>
  ((await Bun.file(join(root, "node_modules", name, "package.json")).json()) as { version: string }).version;

/**
 * A Node project of its own, with the packed client and `dependencies` (names of packages this
 * repository has installed) in its node_modules, and `files` written into it.
 */
export const consumerProject = async (
  dependencies: readonly string[],
  files: Record<string, string>,
): Promise<string> => {
  const { tarball } = await packClient();
  const dir = tempDir("eventfold-consumer-");
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }),
  );
  const versions = await Promise.all(
    dependencies.map(async (name) => `${name}@${await installedVersion(name)}`),
  );
  await run(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", tarball, ...versions], dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
};

export interface NodeProcess {
  readonly child: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Its stdout so far, a line at a time. */
  readonly lines: string[];
  /** Resolves once its stdout is closed. */
  readonly closed: Promise<void>;
  readonly stderr: Promise<string>;
  /** Resolves with the first line (already printed or to come) that `match` returns a value for. */
  line<T>(match: (line: string) => T | undefined): Promise<T>;
}

/** `node <script>` in `project`: another service's process, whose stdout lines a test reads as they come. */
export const runNode = (project: string, script: string, env: Record<string, string>): NodeProcess => {
  const child = Bun.spawn(["node", script], {
    cwd: project,
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: string[] = [];
  const waiting = new Set<() => void>();
  let ended = false;
  const closed = (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
      for (const wake of waiting) wake();
    }
    ended = true;
    for (const wake of waiting) wake();
  })();
  const line = <T>(match: (line: string) => T | undefined): Promise<T> =>
    new Promise((resolve, reject) => {
      let seen = 0;
      const look = () => {
        for (; seen < lines.length; seen++) {
          const found = match(lines[seen] as string);
          if (found !== undefined) {
            waiting.delete(look);
            return resolve(found);
          }
        }
        if (ended) {
          waiting.delete(look);
          reject(new Error(`node ${script} ended before the line awaited; it said:\n${lines.join("\n")}`));
        }
      };
      waiting.add(look);
      look();
    });
  return { child, lines, closed, stderr: new Response(child.stderr).text(), line };
};

/**
 * What another service does first, in any runtime: open, deposit, read, a problem answer, and follow
 * the log until caught up. `id` keeps each runtime's account apart.
 */
export const calls = `
import { createEventfoldClient, memoryCheckpoint } from "@eventfold/client";

export const exercise = async (baseUrl, id) => {
  const api = createEventfoldClient({ baseUrl });
  const path = { id };
  const opened = await api.POST("/v1/accounts", { body: { accountId: id, owner: "Ada", currency: "EUR" } });
  const deposited = await api.POST("/v1/accounts/{id}/deposits", {
    params: { path },
    body: { amount: 1250 },
    headers: { "Idempotency-Key": id + "-deposit" },
  });
  // The account as the read model has it, once it holds the deposit (read your writes).
  const read = await api.GET("/v1/accounts/{id}", { params: { path, query: { minVersion: deposited.data?.version } } });
  const refused = await api.POST("/v1/accounts/{id}/withdrawals", { params: { path }, body: { amount: 99999 } });
  const checkpoint = memoryCheckpoint();
  const seen = [];
  const subscription = api.subscribe({
    checkpoint,
    handle: (event) => {
      if (event.streamId === "account-" + id) seen.push(event.type);
    },
  });
  await subscription.caughtUp;
  await subscription.stop();
  return {
    opened: opened.response.status,
    deposited: deposited.data,
    read: read.data,
    refused: { status: refused.response.status, contentType: refused.response.headers.get("content-type"), problem: refused.error },
    seen,
    checkpoint: checkpoint.position,
  };
};
`;

/** The position of the last event the service has stored. */
export const headOf = async (service: TestService): Promise<number> =>
  (await readEverything(service.engine.store)).at(-1)?.position ?? 0;

/** What `exercise` must have seen, whichever runtime ran it. */
export const expectServiceCalls = (said: Record<string, unknown>, id: string, head: number) => {
  expect(said.opened).toBe(201);
  expect(said.deposited).toEqual({ accountId: id, version: 2, balance: 1250 });
  expect(said.read).toMatchObject({ accountId: id, owner: "Ada", balance: 1250, currency: "EUR" });
  expect(said.refused).toMatchObject({
    status: 409,
    contentType: expect.stringMatching(/^application\/problem\+json/),
    problem: { code: "insufficient_funds" },
  });
  expect([said.seen, said.checkpoint]).toEqual([["AccountOpened", "MoneyDeposited"], head]);
  // Caught up: the subscription's position is the last event stored, this account's deposit.
  expect(said.checkpoint).toBe(head);
  if ("fileCheckpoint" in said) expect(said.fileCheckpoint).toBe(head);
};
