import type { Subprocess } from "bun";

export interface ServerProcess {
  readonly url: string;
  readonly process: Subprocess;
  /** Resolves with the exit code. */
  readonly exited: Promise<number>;
}

const root = new URL("../..", import.meta.url).pathname;

// A test that fails half-way must not leave servers behind holding ports, files and the runner's pipes.
const running = new Set<Subprocess>();
process.on("exit", () => {
  for (const child of running) child.kill(9);
});

/** Runs `npm start`'s entry point in its own process, so a test can kill -9 it. */
export const spawnServer = async (
  dataDir: string,
  port: number,
  env: Record<string, string> = {},
  role: "all" | "edge" | "projector" = "all",
) => {
  const proc = Bun.spawn([process.execPath, "run", "app/main.ts", role], {
    cwd: root,
    env: { ...process.env, PORT: String(port), EVENTFOLD_DATA_DIR: dataDir, LOG_LEVEL: "warn", ...env },
    stdout: "inherit",
    stderr: "inherit",
  });
  running.add(proc);
  proc.exited.then(() => running.delete(proc));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill(9);
      throw new Error(`server on ${port} did not start`);
    }
    await Bun.sleep(50);
  }
  return { url, process: proc, exited: proc.exited } satisfies ServerProcess;
};

// Below the ephemeral range (32768+), so no client socket of the test itself can hold the port.
let nextPort = 20_000 + Math.floor(Math.random() * 10_000);
export const freePort = (): number => {
  nextPort += 1;
  return nextPort;
};
