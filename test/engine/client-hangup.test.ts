import { expect, test } from "bun:test";
import { connect } from "node:net";
import { inProcessApp } from "../support/app.ts";
import { eventually } from "../support/http.ts";

test("a client that hangs up mid-body is no server error: not logged as one, not counted as a 500", async () => {
  const app = inProcessApp();
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  try {
    await app.request("POST", "/v1/accounts", { accountId: "h", owner: "h", currency: "EUR" });
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        const socket = connect(Number(server.port), "127.0.0.1", () => {
          socket.write(
            "POST /v1/accounts/h/deposits HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
              'Content-Length: 100\r\n\r\n{"amount":',
          );
          setTimeout(() => socket.destroy(), 50);
        });
        socket.on("close", () => resolve());
        socket.on("error", reject);
      });
    }
    const scrape = async () => (await (await app.fetch(new Request("http://x/metrics"))).text()).split("\n");
    const deposits = (lines: string[]) =>
      lines.filter((l) => l.startsWith("eventfold_http_requests_total") && l.includes("/deposits"));
    // The server notices each hang-up when it reads the body: count the three, then look at all.
    const lines = await eventually(scrape, (all) => deposits(all).some((l) => / 3$/.test(l)));
    expect(deposits(lines)).toEqual([expect.stringMatching(/status="499"\} 3$/)]);
    expect(lines.filter((l) => l.includes('status="500"'))).toEqual([]);
    expect(app.log.lines.filter((line) => line.level === "error" || line.level === "warn")).toEqual([]);
    expect((await app.request("GET", "/v1/accounts/h/state")).body).toMatchObject({ balance: 0, version: 1 });
  } finally {
    server.stop(true);
    await app.close();
  }
});
