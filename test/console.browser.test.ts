/**
 * The operations console (`GET /console`) in a real browser: Debian's chromium, driven by
 * playwright-core, against the whole service with auth on. What an operator does with it: signs in
 * with an admin token, watches the projections and the live charts, finds a poisoned event among the
 * dead letters and drops it, pauses and resumes a projection, rebuilds one, reads an account's events
 * and its state at a version. Each effect is checked through the API as well as on the page.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { CONSOLE_CSP } from "../src/http/console/routes.ts";
import type { Projection } from "../src/projector/projection.ts";
import { type Client, client, eventually, openAccount } from "./support/http.ts";
import { poisonAmount } from "./support/read-side.ts";
import { serversRequired } from "./support/servers.ts";
import { startTestService, type TestService } from "./support/service.ts";

const executablePath = "/usr/bin/chromium";
const present = Bun.file(executablePath).size > 0;
const describeBrowser = present || serversRequired ? describe : describe.skip;
if (!present)
  console.warn(`SKIPPED: the console in a browser: no ${executablePath} (apt-get install chromium)`);

interface Projections {
  readonly projections: {
    readonly name: string;
    readonly state: string;
    readonly paused?: boolean;
    readonly rebuild?: { readonly done: number; readonly total: number; readonly finishedAt?: string };
  }[];
}

const ADMIN = "console-admin-token";
const READER = "console-reader-token";
/** The accounts projection cannot apply a deposit of this amount while `broken`. */
const CURSED = 777;

/** A rebuild of `name` fills its new generation only once `gate()` resolves: meanwhile its progress shows. */
const holdingRebuilds =
  (name: string, gate: () => Promise<void>) =>
  (projections: readonly Projection[]): readonly Projection[] =>
    projections.map((p) => {
      const generations = p.generations;
      if (p.name !== name || !generations) return p;
      return {
        ...p,
        generations: {
          serving: () => generations.serving(),
          switchTo: (generation) => generations.switchTo(generation),
          drop: (generation) => generations.drop(generation),
          ...(generations.adopt ? { adopt: () => generations.adopt?.() ?? Promise.resolve() } : {}),
          create: async () => {
            const { generation, fill } = await generations.create();
            return {
              generation,
              fill: {
                apply: async (events, context) => {
                  await gate();
                  await fill.apply(events, context);
                },
                ...(fill.flush ? { flush: (context) => fill.flush?.(context) ?? Promise.resolve() } : {}),
              },
            };
          },
        },
      };
    });

const launch = () =>
  chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });

/** What a locator shows, as soon as `check` holds of it (or the last text, failing, after `ms`). */
const shown = (locator: Locator, check: (text: string) => boolean, ms = 10_000) =>
  eventually(async () => (await locator.textContent()) ?? "", check, ms);

describeBrowser("the operations console in a browser", () => {
  let service: TestService;
  let browser: Browser;
  let page: Page;
  let api: Client;
  let broken = true;
  let rebuildGate = Promise.resolve();
  let releaseRebuild = () => {};
  /** Script errors, and what the browser refused (a Content-Security-Policy violation says so here). */
  const troubles: string[] = [];
  /** Every request the page made: where to, and with which Authorization. */
  const requests: { url: string; authorization: string | undefined }[] = [];

  beforeAll(async () => {
    if (!present)
      throw new Error(`no ${executablePath} (EVENTFOLD_REQUIRE_SERVERS=1): apt-get install chromium`);
    service = await startTestService(
      {
        retryAttempts: 2,
        apiKeys: [
          { name: "ops", role: "admin", token: ADMIN },
          { name: "app", role: "reader", token: READER },
        ],
      },
      {
        projections: (projections) =>
          holdingRebuilds(
            "analytics",
            () => rebuildGate,
          )(poisonAmount("accounts", CURSED, `amount ${CURSED} is cursed`, () => broken)(projections)),
      },
    );
    api = client(service.url, { authorization: `Bearer ${ADMIN}` });
    browser = await launch();
    // A context of its own, as a browser window: a second tab of it shares its cookies, not its session storage.
    page = await (await browser.newContext()).newPage();
    page.on("pageerror", (error) => troubles.push(error.message));
    // A refused call is the API's answer, shown on the page: not a trouble of the page's own.
    page.on("console", (message) => {
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource"))
        troubles.push(message.text());
    });
    page.on("request", (request) =>
      requests.push({ url: request.url(), authorization: request.headers().authorization }),
    );
    // Discarding and rebuilding ask the operator first.
    page.on("dialog", (dialog) => void dialog.accept());
  }, 120_000);

  afterAll(async () => {
    // A rebuild held by a failed test would hold the service's stop.
    releaseRebuild();
    await browser?.close();
    await service?.dispose();
  });

  const row = (projection: string) => page.locator(`#projection-table tr[data-projection="${projection}"]`);
  const projectionStatus = async (name: string) =>
    (await api.get<Projections>("/v1/admin/projections")).body.projections.find((p) => p.name === name);

  test("GET /console: a page under a strict Content-Security-Policy, asking for an admin token", async () => {
    const answer = await page.goto(`${service.url}/console`);
    expect(answer?.status()).toBe(200);
    expect(answer?.headers()["content-security-policy"]).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toStartWith("default-src 'self';");
    await page.getByLabel("Admin token").waitFor();
    expect(await page.locator("#projections").isHidden()).toBe(true);

    await page.getByLabel("Admin token").fill("not-a-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await shown(page.locator("#sign-in-error"), (t) => t.includes("not one of the service's keys (401)"));
    await page.getByLabel("Admin token").fill(READER);
    await page.getByRole("button", { name: "Sign in" }).click();
    await shown(page.locator("#sign-in-error"), (t) => t.includes("role is not admin (403)"));

    await page.getByLabel("Admin token").fill(ADMIN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("link", { name: "Projections" }).waitFor();
    for (const name of ["accounts", "analytics"])
      expect(await shown(row(name).locator(".state"), (t) => t === "running")).toBe("running");

    // Kept for this tab: a reload stays signed in. Another tab signs in on its own.
    await page.reload();
    await row("accounts").waitFor();
    expect(await page.locator("#sign-in").isHidden()).toBe(true);
    const other = await page.context().newPage();
    await other.goto(`${service.url}/console`);
    await other.getByLabel("Admin token").waitFor();
    await other.close();
  }, 30_000);

  test("the live charts: command rate and latency from successive scrapes of /metrics, lag per projection", async () => {
    await openAccount(api, "console-chart");
    let sending = true;
    const traffic = (async () => {
      while (sending) await api.post("/v1/accounts/console-chart/deposits", { amount: 5 });
    })();
    try {
      const rate = await shown(page.locator("#chart-rate .legend"), (t) =>
        /commands [1-9][\d.,]*\/s/.test(t),
      );
      expect(rate).toMatch(/^commands [\d.,]+\/s$/);
      const latency = await shown(page.locator("#chart-latency .legend"), (t) => /p50 [\d.]+ ms/.test(t));
      expect(latency).toMatch(/^p50 [\d.]+ msp99 [\d.,]+ ms$/);
      // Both projections, once each has applied something in the window (analytics inserts about once a second).
      const lag = await shown(
        page.locator("#chart-lag .legend"),
        (t) => /accounts [\d.]+ s/.test(t) && /analytics [\d.]+ s/.test(t),
      );
      expect(lag).toMatch(/^accounts [\d.]+ sanalytics [\d.]+ s$/);
      expect(await page.locator("#chart-rate svg path.line").count()).toBe(1);
    } finally {
      sending = false;
      await traffic;
    }
  }, 30_000);

  test("a poisoned event lands among the dead letters: its envelope, last error and attempts; discarded, it is gone", async () => {
    await openAccount(api, "console-1");
    await api.post("/v1/accounts/console-1/deposits", { amount: CURSED });
    // The projections' view counts it first.
    await shown(row("accounts").locator("a"), (t) => t === "1");

    await row("accounts").locator("a").click();
    const letter = page.locator("#dead-letter-table tbody tr", { hasText: "account-console-1 v2" });
    await letter.waitFor();
    expect(await page.locator("#dead-letter-projection").inputValue()).toBe("accounts");
    await letter.getByRole("button", { name: "Open" }).click();
    const opened = page.locator("#dead-letter");
    await opened.waitFor();
    expect(await page.locator("#dead-letter-error").textContent()).toBe(`amount ${CURSED} is cursed`);
    expect(await page.locator("#dead-letter-attempts").textContent()).toBe("2");
    const envelope = JSON.parse((await page.locator("#dead-letter-envelope").textContent()) ?? "");
    expect(envelope).toMatchObject({
      streamId: "account-console-1",
      type: "MoneyDeposited",
      version: 2,
      data: { amount: CURSED },
    });

    await letter.getByRole("button", { name: "Discard" }).click();
    await letter.waitFor({ state: "detached" });
    await page.getByText("No dead letters.").waitFor();
    expect(await opened.isHidden()).toBe(true);
    await shown(page.locator("#status"), (t) => t.includes("account-console-1 v2: discarded"));
    const left = await api.get<{ deadLetters: Record<string, unknown[]> }>(
      "/v1/admin/dead-letters?projection=accounts",
    );
    expect([left.status, left.body.deadLetters.accounts]).toEqual([200, []]);
  }, 30_000);

  test("one dead letter replayed once its fault is fixed: the read model takes it", async () => {
    const deposit = await api.post<{ version: number }>("/v1/accounts/console-1/deposits", {
      amount: CURSED,
    });
    const letter = page.locator("#dead-letter-table tbody tr", { hasText: "account-console-1 v3" });
    await letter.waitFor();
    broken = false;
    await letter.getByRole("button", { name: "Replay" }).click();
    await letter.waitFor({ state: "detached" });
    const read = await api.get<{ balance: number; version: number }>(
      `/v1/accounts/console-1?minVersion=${deposit.body.version}`,
    );
    // Its balance is the event's: the discarded deposit before it counts in the stream, not in dead letters.
    expect([read.status, read.body.version, read.body.balance]).toEqual([200, 3, 2 * CURSED]);
  }, 30_000);

  test("pause and resume a projection: its events wait meanwhile", async () => {
    await page.getByRole("link", { name: "Projections" }).click();
    await row("accounts").getByRole("button", { name: "Pause" }).click();
    expect(await shown(row("accounts").locator(".state"), (t) => t === "paused")).toBe("paused");
    expect(await projectionStatus("accounts")).toMatchObject({ state: "paused", paused: true });
    await row("accounts").getByRole("button", { name: "Resume" }).waitFor();

    const deposit = await api.post<{ version: number }>("/v1/accounts/console-1/deposits", { amount: 1 });
    // Not applied while paused: the projection lags behind the store on the page.
    await shown(row("accounts").locator("td").nth(2), (t) => Number(t) >= 1);

    await row("accounts").getByRole("button", { name: "Resume" }).click();
    expect(await shown(row("accounts").locator(".state"), (t) => t === "running")).toBe("running");
    expect(await projectionStatus("accounts")).toMatchObject({ state: "running", paused: false });
    const read = await api.get<{ balance: number }>(
      `/v1/accounts/console-1?minVersion=${deposit.body.version}`,
    );
    expect([read.status, read.body.balance]).toEqual([200, 2 * CURSED + 1]);
    await shown(row("accounts").locator("td").nth(2), (t) => t === "0");
  }, 30_000);

  test("a rebuild from the page: its progress bar while it runs, then done/total, as the admin API says", async () => {
    const held = Promise.withResolvers<void>();
    rebuildGate = held.promise;
    releaseRebuild = held.resolve;
    await row("analytics").getByRole("button", { name: "Rebuild" }).click();
    await shown(page.locator("#status"), (t) => t.startsWith("analytics: rebuild started"));
    const bar = row("analytics").getByRole("progressbar", { name: "rebuild progress" });
    await bar.waitFor();
    expect(await row("analytics").locator(".state").textContent()).toBe("rebuilding");
    expect(await row("analytics").getByRole("button", { name: "Rebuild" }).isDisabled()).toBe(true);
    // Its total is the store's head once the rebuild has read it.
    const running = await eventually(
      async () => (await projectionStatus("analytics"))?.rebuild,
      (rebuild) => (rebuild?.total ?? 0) > 0,
    );
    expect(running?.finishedAt).toBeUndefined();
    await eventually(
      () => bar.getAttribute("max"),
      (max) => max === String(running?.total),
    );
    expect(await row("analytics").locator("td").nth(6).textContent()).toContain(
      `/${running?.total.toLocaleString("en")}`,
    );

    releaseRebuild();
    const said = await shown(row("analytics").locator("td").nth(6), (t) => / done /.test(t), 20_000);
    const done = (await projectionStatus("analytics"))?.rebuild;
    expect(done?.finishedAt).toBeString();
    expect(said).toStartWith(`${done?.done.toLocaleString("en")}/${done?.total.toLocaleString("en")} done`);
    await shown(row("analytics").locator(".state"), (t) => t === "running");
  }, 30_000);

  test("a stream: an account's events page by page, and its state at any version", async () => {
    await openAccount(api, "console-2");
    for (let i = 1; i <= 22; i++) await api.post("/v1/accounts/console-2/deposits", { amount: i * 100 });
    await page.getByRole("link", { name: "Streams" }).click();
    await page.getByLabel("Id", { exact: true }).fill("console-2");
    await page.getByRole("button", { name: "Open" }).click();
    await shown(page.locator("#stream-title"), (t) => t === "account console-2 · 23 events");
    const versions = () =>
      page
        .locator("#event-table tbody tr")
        .evaluateAll((rows) => rows.map((r) => Number(r.getAttribute("data-version"))));
    expect(await versions()).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await page.locator("#events-range").textContent()).toBe("events 1–20 of 23");
    expect(await page.getByRole("button", { name: "Previous" }).isDisabled()).toBe(true);

    await page.getByRole("button", { name: "Next" }).click();
    await shown(page.locator("#events-range"), (t) => t === "events 21–23 of 23");
    expect(await versions()).toEqual([21, 22, 23]);
    expect(await page.getByRole("button", { name: "Next" }).isDisabled()).toBe(true);
    await page.getByRole("button", { name: "Previous" }).click();
    await shown(page.locator("#events-range"), (t) => t === "events 1–20 of 23");

    await page
      .locator('#event-table tr[data-version="1"]')
      .getByRole("button", { name: "State here" })
      .click();
    await shown(page.locator("#state-caption"), (t) => t === "right after event 1 of 23");
    expect(JSON.parse((await page.locator("#state").textContent()) ?? "")).toMatchObject({
      accountId: "console-2",
      balance: 0,
      version: 1,
    });
    await page.getByLabel("At version").fill("11");
    await page.getByRole("button", { name: "Show" }).click();
    await shown(page.locator("#state-caption"), (t) => t === "right after event 11 of 23");
    const atEleven = await api.get("/v1/accounts/console-2/state?atVersion=11");
    expect(JSON.parse((await page.locator("#state").textContent()) ?? "")).toEqual(atEleven.body);
    expect(atEleven.body).toMatchObject({ balance: 5_500, version: 11 });

    // A transfer's stream too; and an id no stream has is said so.
    const transfer = await api.post<{ transferId: string }>("/v1/transfers", {
      from: "console-2",
      to: "console-1",
      amount: 100,
    });
    await page.getByLabel("Aggregate").selectOption("transfers");
    await page.getByLabel("Id", { exact: true }).fill(transfer.body.transferId);
    await page.getByRole("button", { name: "Open" }).click();
    await shown(page.locator("#stream-title"), (t) =>
      t.startsWith(`transfer ${transfer.body.transferId} · `),
    );
    await page.locator("#event-table tbody tr").first().waitFor();
    await page.getByLabel("Aggregate").selectOption("accounts");
    await page.getByLabel("Id", { exact: true }).fill("nobody-here");
    await page.getByRole("button", { name: "Open" }).click();
    await shown(page.locator("#status"), (t) => t.startsWith("no account nobody-here (404 not_found"));
  }, 30_000);

  test("every call went to the service itself, each with the admin token; sign out forgets it", async () => {
    const elsewhere = requests.filter((r) => !r.url.startsWith(`${service.url}/`));
    expect(elsewhere).toEqual([]);
    const calls = requests.filter((r) => new URL(r.url).pathname.startsWith("/v1/"));
    const withAdmin = calls.filter((r) => r.authorization === `Bearer ${ADMIN}`);
    // Only the sign-in attempts before (none, the wrong key, the reader's) carried another.
    expect(calls.length - withAdmin.length).toBeLessThanOrEqual(3);
    expect(withAdmin.length).toBeGreaterThan(20);
    expect(
      requests.some((r) => r.url === `${service.url}/metrics` && r.authorization === `Bearer ${ADMIN}`),
    ).toBe(true);

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Admin token").waitFor();
    await page.reload();
    await page.getByLabel("Admin token").waitFor();
    expect(troubles).toEqual([]);
  }, 30_000);
});

describeBrowser("the console with auth off", () => {
  test("opens without a token, and says auth is off", async () => {
    const service = await startTestService();
    const browser = await launch();
    try {
      const page = await browser.newPage();
      await page.goto(`${service.url}/console`);
      await page.locator('#projection-table tr[data-projection="accounts"]').waitFor();
      expect(await page.locator("#who").textContent()).toBe("auth is off: every route is open");
      expect(await page.locator("#sign-in").isHidden()).toBe(true);
      expect(await page.locator("#sign-out").isHidden()).toBe(true);
    } finally {
      await browser.close();
      await service.dispose();
    }
  }, 60_000);
});

describe("where the console is served", () => {
  test("with the admin API: one process (read side on its thread), the projector; not an edge alone", async () => {
    const pageOf = async (service: TestService) => {
      try {
        const [page, script, style] = await Promise.all(
          ["/console", "/console/assets/console.js", "/console/assets/console.css"].map((path) =>
            fetch(`${service.url}${path}`),
          ),
        );
        return [page, script, style].map((r) => [r?.status, r?.headers.get("content-type")]);
      } finally {
        await service.dispose();
      }
    };
    const served = [
      [200, "text/html; charset=utf-8"],
      [200, "text/javascript; charset=utf-8"],
      [200, "text/css; charset=utf-8"],
    ];
    expect(await pageOf(await startTestService({}, { readSideThread: true }))).toEqual(served);
    expect(await pageOf(await startTestService({}, { role: "projector" }))).toEqual(served);
    // An edge alone runs no read side: it needs the read stores' servers, which need not answer here.
    const edge = await startTestService(
      { redisUrl: "redis://127.0.0.1:1", clickhouseUrl: "http://127.0.0.1:1" },
      { role: "edge" },
    );
    const missing = await pageOf(edge);
    expect(missing.map(([status]) => status)).toEqual([404, 404, 404]);
  }, 60_000);

  test("its files answer 304 to a browser that holds them, and 404 to a name it does not have", async () => {
    const service = await startTestService();
    try {
      const first = await fetch(`${service.url}/console/assets/console.js`);
      const etag = first.headers.get("etag") ?? "";
      expect([first.status, first.headers.get("cache-control"), etag]).toEqual([
        200,
        "no-cache",
        expect.any(String),
      ]);
      expect(await first.text()).toContain("/v1/admin/projections");
      const again = await fetch(`${service.url}/console/assets/console.js`, {
        headers: { "if-none-match": etag },
      });
      expect(again.status).toBe(304);
      const unknown = await fetch(`${service.url}/console/assets/constructor`);
      expect([unknown.status, unknown.headers.get("content-security-policy")]).toEqual([404, CONSOLE_CSP]);
      expect(((await unknown.json()) as { code: string }).code).toBe("not_found");
      const queried = await fetch(`${service.url}/console?debug=1`);
      expect(queried.status).toBe(400);
    } finally {
      await service.dispose();
    }
  }, 30_000);
});
