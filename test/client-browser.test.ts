/**
 * `@eventfold/client` in a real browser (Debian's chromium, driven by playwright-core): the packed
 * package, bundled for the browser as a web app's build would, runs in a page of the service's own
 * origin (the service sends no CORS headers) and makes the same calls as in Node, Bun and Deno.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { calls, consumerProject, expectServiceCalls, headOf } from "./support/client-package.ts";
import { serversRequired } from "./support/servers.ts";
import { startTestService, type TestService } from "./support/service.ts";

const executablePath = "/usr/bin/chromium";
const present = Bun.file(executablePath).size > 0;
const describeBrowser = present || serversRequired ? describe : describe.skip;
if (!present)
  console.warn(`SKIPPED: the client in a browser: no ${executablePath} (apt-get install chromium)`);

const entry = `
import { exercise } from "./calls.mjs";
globalThis.exercise = exercise;
`;

describeBrowser("the packed client in a browser", () => {
  let service: TestService;
  let project: string;
  let browser: Browser;
  let bundle: string;
  beforeAll(async () => {
    if (!present)
      throw new Error(`no ${executablePath} (EVENTFOLD_REQUIRE_SERVERS=1): apt-get install chromium`);
    service = await startTestService();
    project = await consumerProject([], { "calls.mjs": calls, "entry.mjs": entry });
    const built = await Bun.build({
      entrypoints: [join(project, "entry.mjs")],
      target: "browser",
      format: "esm",
    });
    if (!built.success) throw new AggregateError(built.logs, "the bundle for the browser failed");
    bundle = (await built.outputs[0]?.text()) ?? "";
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await service?.dispose();
    if (project) rmSync(project, { recursive: true, force: true });
  });

  test("a page of the service's origin opens, deposits, reads, gets a problem and follows the log", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    // The page and its script are the test's; every other request of the page goes to the real service.
    await page.route(`${service.url}/__page/**`, (route) =>
      route.fulfill(
        route.request().url().endsWith(".js")
          ? { contentType: "text/javascript", body: bundle }
          : { contentType: "text/html", body: '<!doctype html><script type="module" src="app.js"></script>' },
      ),
    );
    await page.goto(`${service.url}/__page/index.html`);
    await page.waitForFunction(() => "exercise" in globalThis);
    const said = await page.evaluate(
      ([baseUrl, id]) =>
        (
          globalThis as unknown as { exercise: (url: string, id: string) => Promise<Record<string, unknown>> }
        ).exercise(baseUrl as string, id as string),
      [service.url, "browser-1"],
    );
    expect(await page.evaluate(() => navigator.userAgent)).toContain("Chrome/");
    expectServiceCalls(said, "browser-1", await headOf(service));
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
