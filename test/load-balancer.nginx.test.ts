import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pollUntil } from "../src/lib/poll.ts";
import { serversRequired } from "./support/servers.ts";
import { tempDir } from "./support/service.ts";
import { freePort, type ServerProcess, spawnServer } from "./support/subprocess.ts";

const root = new URL("..", import.meta.url).pathname;
const nginx = Bun.which("nginx") ?? (Bun.file("/usr/sbin/nginx").size > 0 ? "/usr/sbin/nginx" : null);

/**
 * ops/nginx.conf as compose runs it, but for where it listens and whom it sends to: one edge on this
 * machine instead of Docker's DNS name for every edge.
 */
const localConfig = async (dir: string, listen: number, edge: number): Promise<string> => {
  const conf = await Bun.file(`${root}ops/nginx.conf`).text();
  const replaced = conf
    .replace(
      /worker_processes auto;/,
      `worker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;`,
    )
    .replace(/resolver [^;]+;/, "")
    .replace(/server edge:3000 resolve;/, `server 127.0.0.1:${edge};`)
    .replace(/listen 80;/, `listen 127.0.0.1:${listen};`)
    .replace(
      /^http \{/m,
      `http {\n  access_log off;\n${["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${dir};`).join("\n")}`,
    );
  for (const original of ["server edge:3000 resolve;", "listen 80;"])
    expect(replaced).not.toContain(original);
  const path = join(dir, "nginx.conf");
  await Bun.write(path, replaced);
  return path;
};

const describeNginx = nginx || serversRequired ? describe : describe.skip;
if (!nginx) console.warn("SKIPPED: the load balancer: no nginx on this machine (apt-get install nginx)");

describeNginx("the load balancer (ops/nginx.conf) in front of an edge", () => {
  const dir = tempDir();
  const dataDir = tempDir();
  const port = freePort();
  const edgePort = freePort();
  let edge: ServerProcess;
  let proxy: ReturnType<typeof Bun.spawn> | undefined;
  beforeAll(async () => {
    if (!nginx)
      throw new Error("no nginx on this machine (EVENTFOLD_REQUIRE_SERVERS=1): apt-get install nginx");
    mkdirSync(dir, { recursive: true });
    edge = await spawnServer(dataDir, edgePort);
    const config = await localConfig(dir, port, edgePort);
    proxy = Bun.spawn([nginx, "-c", config, "-g", "daemon off;"], { stdout: "inherit", stderr: "inherit" });
    const up = await pollUntil(
      async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok === true,
      (ok) => ok,
      { timeoutMs: 10_000 },
    );
    if (!up) throw new Error(`nginx does not answer: ${await Bun.file(join(dir, "error.log")).text()}`);
  }, 30_000);
  afterAll(async () => {
    proxy?.kill();
    await proxy?.exited;
    edge?.process.kill(9);
    rmSync(dir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  const get = async (path: string, headers: Record<string, string> = {}, to = port, body?: string) => {
    const response = await fetch(`http://127.0.0.1:${to}${path}`, {
      headers,
      ...(body === undefined ? {} : { method: "POST", body }),
    });
    const text = await response.text();
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      correlation: response.headers.get("x-correlation-id"),
      retryAfter: response.headers.get("retry-after"),
      code: text.startsWith("{") ? (JSON.parse(text) as { code?: string }).code : text.slice(0, 80),
    };
  };
  const padding = (bytes: number) => "p".repeat(bytes);

  test("a head too large is a 431 problem with a correlation id, whoever refuses it", async () => {
    const cases = {
      // nginx: a header line past one buffer (16 KiB), a request line past it, a head past 4 of them.
      "one header line of 20 KiB": await get("/healthz", { "X-Padding": padding(20_000) }),
      "a request line of 20 KiB": await get(`/healthz?padding=${padding(20_000)}`),
      "six header lines of 12 KiB": await get(
        "/healthz",
        Object.fromEntries(["a", "b", "c", "d", "e", "f"].map((n) => [`X-Padding-${n}`, padding(12_000)])),
      ),
      // The edge: lines nginx takes, summing past the edge's 16 KiB.
      "two header lines of 12 KiB": await get("/healthz", { "X-A": padding(12_000), "X-B": padding(12_000) }),
    };
    for (const [what, answer] of Object.entries(cases)) {
      expect([what, answer.status, answer.type, answer.code]).toEqual([
        what,
        431,
        "application/problem+json",
        "headers_too_large",
      ]);
      expect([what, answer.correlation]).toEqual([what, expect.stringMatching(/^[\w-]{16,}$/)]);
    }
  });

  test("without it, the edge answers a head over 16 KiB as a problem; Bun, one over 64 KiB, with a bare 431", async () => {
    const edgeAnswer = await get("/healthz", { "X-A": padding(12_000), "X-B": padding(12_000) }, edgePort);
    expect([edgeAnswer.status, edgeAnswer.code, edgeAnswer.correlation === null]).toEqual([
      431,
      "headers_too_large",
      false,
    ]);
    const bunAnswer = await get("/healthz", { "X-Padding": padding(70_000) }, edgePort);
    expect([bunAnswer.status, bunAnswer.type, bunAnswer.code]).toEqual([431, null, ""]);
  });

  test("an event stream comes through as each event is stored, not held back in a buffer", async () => {
    const edgeUrl = `http://127.0.0.1:${edgePort}`;
    const response = await fetch(`http://127.0.0.1:${port}/v1/events/stream?type=AccountOpened`);
    expect(response.headers.get("content-type")).toStartWith("text/event-stream");
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = "";
    const until = async (part: string) => {
      while (!text.includes(part)) {
        const { done, value } = await reader.read();
        if (done) throw new Error(`the stream ended before ${part}: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    await until("event: caught-up");
    const id = `lb-${Bun.randomUUIDv7()}`;
    await fetch(`${edgeUrl}/v1/accounts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ accountId: id, owner: "x", currency: "EUR" }),
    });
    // One small event: a buffering proxy would hold it until its buffer filled or the stream ended.
    await until(`"streamId":"account-${id}"`);
    await reader.cancel();
  });

  test("a head within the limits is passed to the edge", async () => {
    const answer = await get("/healthz", { "X-Padding": padding(8_000) });
    expect([answer.status, answer.code]).toEqual([200, undefined]);
  });
  test("a body over 1 MiB is nginx's 413 problem, with a correlation id", async () => {
    const answer = await get(
      "/v1/accounts",
      { "Content-Type": "application/json" },
      port,
      padding(1_100_000),
    );
    expect([answer.status, answer.type, answer.code]).toEqual([
      413,
      "application/problem+json",
      "payload_too_large",
    ]);
    expect(answer.correlation).toBeTruthy();
  });

  // Last: it stops the edge.
  test("with no edge to answer, nginx's 503 problem says when to retry, with a correlation id", async () => {
    edge.process.kill(9);
    await edge.exited;
    const answer = await get("/healthz");
    expect([answer.status, answer.type, answer.code, answer.retryAfter]).toEqual([
      503,
      "application/problem+json",
      "unavailable",
      "1",
    ]);
    expect(answer.correlation).toBeTruthy();
  });
});
