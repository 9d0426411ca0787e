import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { folderFiles, registryEdits } from "../src/cli/scaffold.ts";
import { tempDir } from "./support/config.ts";

/**
 * `npm run eventfold -- new aggregate <name>` in a copy of the repository: what it writes passes every
 * check `.ci/run` makes of code (typecheck, lint, the contract check) and its own tests, with its routes
 * in the OpenAPI document and the generated client; and the README's walkthrough names what it writes.
 */
const root = new URL("..", import.meta.url).pathname;
const copy = join(tempDir("eventfold-scaffold-"), "repo");

const run = (command: string[], cwd = copy) => {
  const done = Bun.spawnSync(command, {
    cwd,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  return { exitCode: done.exitCode, out: done.stdout.toString() + done.stderr.toString() };
};
const bun = process.execPath;
const cli = (...args: string[]) => run([bun, "run", "src/cli/main.ts", ...args]);

// The repository as a clone has it (tracked and new files, not what .gitignore leaves out), and its
// installed packages.
const files = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], root).out.split("\n");
for (const file of files.filter((f) => f && existsSync(join(root, f)))) {
  mkdirSync(dirname(join(copy, file)), { recursive: true });
  copyFileSync(join(root, file), join(copy, file));
}
symlinkSync(join(root, "node_modules"), join(copy, "node_modules"));
afterAll(() => rmSync(dirname(copy), { recursive: true, force: true }));

describe("the scaffold: npm run eventfold -- new aggregate <name>", () => {
  test("--help says every file it writes, and what it changes outside the folder", () => {
    const help = cli("new", "aggregate", "--help");
    expect(help.exitCode).toBe(0);
    for (const { file } of [...folderFiles, ...registryEdits]) expect(help.out).toContain(file);
  });

  test("a name it cannot use is refused, saying why, and nothing is written", async () => {
    const outside = ["actors/index.ts", "ops/nginx.conf", "docs/api.md", "packages/client/openapi.json"];
    const read = () => Promise.all(outside.map((file) => Bun.file(join(copy, file)).text()));
    const before = await read();
    const refusals: [string[], string][] = [
      [["Card-2"], "2-30 lower case letters"],
      [["function"], "a word of JavaScript"],
      [["account"], "actors/account exists already"],
      [["event"], "/v1/events is served already"],
      [["card", "--plural", "transfers"], "/v1/transfers is served already"],
      [["card", "--plural"], "--plural takes the plural"],
    ];
    for (const [args, why] of refusals) {
      const refused = cli("new", "aggregate", ...args);
      expect(refused.exitCode, args.join(" ")).toBeGreaterThan(0);
      expect(refused.out).toContain(why);
    }
    expect(existsSync(join(copy, "actors", "card"))).toBe(false);
    expect(await read()).toEqual(before);
  });

  test("writes a folder that passes typecheck, lint, the contract check and its tests at once", () => {
    const made = cli("new", "aggregate", "card");
    expect(made.exitCode, made.out).toBe(0);
    for (const { file } of folderFiles) {
      expect(made.out).toContain(`wrote actors/card/${file}`);
      expect(existsSync(join(copy, "actors", "card", file))).toBe(true);
    }
    const tsc = join(copy, "node_modules", ".bin", "tsc");
    const checks = [
      [tsc, "--noEmit", "-p", "."],
      [tsc, "--noEmit", "-p", "packages/client"],
      [join(copy, "node_modules", ".bin", "biome"), "check", "--error-on-warnings", "."],
      [bun, "run", "scripts/contract.ts", "--check"],
      [bun, "test", "actors/card", "test/engine/api-doc.test.ts", "actors/account", "actors/transfer"],
    ];
    for (const check of checks) {
      const result = run(check);
      expect(result.exitCode, `${check.join(" ")}:\n${result.out}`).toBe(0);
    }
  }, 240_000);

  test("its routes are in the OpenAPI document and the generated client, and its path in the routing map", async () => {
    const document = (await Bun.file(join(copy, "packages/client/openapi.json")).json()) as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    const operations = Object.entries(document.paths)
      .filter(([path]) => path.startsWith("/v1/cards"))
      .flatMap(([, item]) => Object.values(item).map((o) => o.operationId));
    expect(operations.sort()).toEqual(
      [
        "openCard",
        "renameCard",
        "closeCard",
        "reopenCard",
        "getCard",
        "listCardEvents",
        "getCardState",
      ].sort(),
    );
    const client = await Bun.file(join(copy, "packages/client/src/schema.ts")).text();
    expect(client).toContain('"/v1/cards/{id}/rename"');
    const nginx = await Bun.file(join(copy, "ops/nginx.conf")).text();
    expect(nginx).toContain("~^/v1/cards/(?<id>[A-Za-z0-9_-]+) card-$id;");
  });
});

test("the README's walkthrough names the command and every file the scaffold writes or changes", async () => {
  const readme = await Bun.file(join(root, "README.md")).text();
  const section = readme.slice(
    readme.indexOf("## Adding an aggregate"),
    readme.indexOf("## Changing an event"),
  );
  expect(section).toContain("npm run eventfold -- new aggregate");
  for (const { file } of folderFiles) expect(section).toContain(`\`${file}\``);
  for (const file of ["actors/index.ts", "ops/nginx.conf", "docs/api.md", "npm run contract:generate"]) {
    expect(section).toContain(file);
  }
});
