/**
 * Starts the service (app/main.ts) in a child process with an environment and a port, and waits until
 * a path answers 200. For the tests that kill a server and the benchmark that measures one from outside.
 */
import type { Subprocess } from "bun";
import { pollUntil } from "../src/lib/poll.ts";

const root = new URL("..", import.meta.url).pathname;

export interface SpawnOptions {
  readonly port: number;
  /** On top of this process's environment, after `PORT` and `LOG_LEVEL=warn` (so it may override them). */
  readonly env?: Record<string, string>;
  /** Arguments to the script: app/main.ts takes its role (all, edge, projector). */
  readonly args?: readonly string[];
  /** The script to run, from the repository root: app/main.ts, or a stand-in that serves HTTP the same way. */
  readonly entry?: string;
  /** The path that must answer 200 before the server counts as up (default /healthz). */
  readonly readyPath?: string;
  /** How long the server has to come up (default 15 s). */
  readonly timeoutMs?: number;
  /** The child's stdout (its stderr is always passed through, so a failure to start can be read). */
  readonly stdout?: "inherit" | "ignore" | "pipe";
  /** Bun's own flags, before the script (`--preload` a module). */
  readonly flags?: readonly string[];
}

export interface SpawnedService {
  readonly url: string;
  readonly process: Subprocess;
  /** Resolves with the exit code. */
  readonly exited: Promise<number>;
}

// A parent that fails half-way must not leave servers behind holding ports, files and its pipes.
const running = new Set<Subprocess>();
process.on("exit", () => {
  for (const child of running) child.kill(9);
});

export const spawnService = async ({
  port,
  env = {},
  args = [],
  entry = "app/main.ts",
  readyPath = "/healthz",
  timeoutMs = 15_000,
  stdout = "inherit",
  flags = [],
}: SpawnOptions): Promise<SpawnedService> => {
  const proc = Bun.spawn([process.execPath, "run", ...flags, entry, ...args], {
    cwd: root,
    env: { ...process.env, PORT: String(port), LOG_LEVEL: "warn", ...env },
    stdout,
    stderr: "inherit",
  });
  running.add(proc);
  let exitCode: number | undefined;
  const exited = proc.exited.then((code) => {
    running.delete(proc);
    exitCode = code;
    return code;
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + timeoutMs;
  const state = await pollUntil(
    async () => {
      if (exitCode !== undefined) return "exited";
      try {
        // Bounded by the deadline: a server that accepts the connection but never answers is not up.
        const signal = AbortSignal.timeout(Math.max(1, deadline - performance.now()));
        const response = await fetch(url + readyPath, { signal });
        await response.arrayBuffer();
        return response.status === 200 ? "up" : "starting";
      } catch {
        return "starting"; // not listening yet
      }
    },
    (s) => s !== "starting",
    { timeoutMs, intervalMs: 50 },
  );
  if (state === "up") return { url, process: proc, exited };
  if (state === "exited")
    throw new Error(`${entry} on ${port} exited with ${exitCode} before ${readyPath} answered`);
  proc.kill(9);
  await exited;
  throw new Error(`${entry} on ${port}: ${readyPath} did not answer 200 within ${timeoutMs} ms`);
};
