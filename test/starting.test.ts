/**
 * A service that is still starting takes its port first, and answers every route, the probes
 * included, with 503 `unavailable` and Retry-After (API.md, /healthz): a load balancer or a client
 * that calls it then is told to come back, not refused a connection or left waiting.
 */
import { expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { eventually } from "./support/http.ts";
import { tempDir } from "./support/service.ts";
import { freePort } from "./support/subprocess.ts";

const root = new URL("..", import.meta.url).pathname;

test("while it starts, /healthz, /readyz, /metrics and the API answer 503 unavailable with Retry-After", async () => {
  // A MongoDB that takes connections and never answers: the start waits on it (server selection) for
  // as long as the test needs, with the port already taken.
  const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const dataDir = tempDir();
  const port = freePort();
  const child = Bun.spawn([process.execPath, "run", "app/main.ts"], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      LOG_LEVEL: "warn",
      EVENTFOLD_DATA_DIR: dataDir,
      MONGO_URL: `mongodb://127.0.0.1:${silent.port}/starting`,
      EVENTFOLD_MONGO_SERVER_SELECTION_MS: "120000",
      // Required with MongoDB: every process of a deployment shares it.
      EVENTFOLD_MASTER_KEY: Buffer.alloc(32, 7).toString("base64url"),
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    // Refused until the process listens; from then on it answers.
    await eventually(
      () =>
        fetch(`${url}/healthz`).then(
          (response) => response.status,
          () => undefined,
        ),
      (status) => status !== undefined,
      15_000,
    );
    const calls: [string, RequestInit][] = [
      ["/healthz", {}],
      ["/readyz", {}],
      ["/metrics", {}],
      [
        "/v1/accounts",
        {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ accountId: "early", owner: "o", currency: "EUR" }),
        },
      ],
    ];
    for (const [path, init] of calls) {
      const response = await fetch(url + path, {
        ...init,
        headers: { ...init.headers, "X-Correlation-Id": `early${path}` },
      });
      expect({
        path,
        status: response.status,
        type: response.headers.get("content-type"),
        retryAfter: response.headers.get("retry-after"),
        correlationId: response.headers.get("x-correlation-id"),
        body: await response.json(),
      }).toEqual({
        path,
        status: 503,
        type: "application/problem+json",
        retryAfter: "1",
        correlationId: `early${path}`,
        body: expect.objectContaining({ status: 503, code: "unavailable", type: "/problems/unavailable" }),
      });
    }
    // Still starting: it was the start that answered, not a service that failed and went.
    expect(child.exitCode).toBeNull();
  } finally {
    child.kill(9);
    await child.exited;
    silent.stop(true);
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 30_000);
