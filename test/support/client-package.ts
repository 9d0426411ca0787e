/**
 * `@eventfold/client` as another service gets it: `npm pack`ed (its `prepack` builds it), installed
 * from the tarball into a project of its own, and run there by plain `node`.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./config.ts";

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
