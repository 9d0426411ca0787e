/**
 * Takes the README's pictures of the operations console (docs/console-*.png): a service with every
 * role, on its embedded defaults in a scratch directory, with an admin key and some traffic, one
 * event the accounts projection cannot apply, and Debian's chromium driven by playwright-core. Run by
 * hand when the console changes (`bun run scripts/console-screenshots.ts`); the tests do not take them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startService } from "../app/service.ts";
import { loadConfig } from "../src/config.ts";
import type { Projection } from "../src/projector/projection.ts";

const root = new URL("..", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "eventfold-screenshots-"));
const TOKEN = "screenshot-admin-token";
const CURSED = 777;

/** The accounts projection refuses a deposit of 777, so that a dead letter shows. */
const cursed = (projections: readonly Projection[]): readonly Projection[] =>
  projections.map((p) => ({
    ...p,
    apply: async (events, context) => {
      const poisoned = events.some((e) => (e.data as { amount?: number }).amount === CURSED);
      if (p.name === "accounts" && poisoned) throw new Error(`amount ${CURSED} is cursed (a test fault)`);
      await p.apply(events, context);
    },
  }));

const config = loadConfig({
  EVENTFOLD_DATA_DIR: join(scratch, "data"),
  PORT: "0",
  HOST: "127.0.0.1",
  LOG_LEVEL: "silent",
  EVENTFOLD_API_KEYS: `ops:admin:${TOKEN}`,
  EVENTFOLD_RETRY_ATTEMPTS: "3",
  EVENTFOLD_RETRY_BASE_MS: "50",
});
const service = await startService(config, { role: "all", projections: cursed });
const post = (path: string, body: unknown) =>
  fetch(`${service.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

const accounts = Array.from({ length: 40 }, (_, i) => `acct-${String(i).padStart(3, "0")}`);
for (const accountId of accounts)
  await post("/v1/accounts", { accountId, owner: `Owner ${accountId}`, currency: "EUR" });
await post("/v1/accounts", { accountId: "alice", owner: "Alice Martin", currency: "EUR" });
for (const [i, amount] of [250_000, 1_200, 48_000, 900].entries())
  await post(`/v1/accounts/alice/${i === 1 ? "withdrawals" : "deposits"}`, {
    amount,
    reference: `ref-${i + 1}`,
  });

// Traffic that varies, so that the charts have a shape: bursts of deposits and transfers.
let going = true;
const traffic = (async () => {
  for (let tick = 0; going; tick++) {
    const burst = 5 + Math.round(20 * (1 + Math.sin(tick / 6)));
    await Promise.all(
      Array.from({ length: burst }, (_, i) => {
        const from = accounts[(tick + i) % accounts.length] as string;
        const to = accounts[(tick + i + 7) % accounts.length] as string;
        return i % 3 === 0
          ? post("/v1/transfers", { from, to, amount: 1 + (i % 50) })
          : post(`/v1/accounts/${from}/deposits`, { amount: 100 + i });
      }),
    );
    await Bun.sleep(200);
  }
})();

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1360, height: 640 }, deviceScaleFactor: 1 });
  page.on("dialog", (dialog) => void dialog.accept());
  await page.goto(`${service.url}/console`);
  await page.getByLabel("Admin token").fill(TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#projection-table tbody tr").first().waitFor();

  // The poison deposit: retried, then dead-lettered.
  await post("/v1/accounts/alice/deposits", { amount: CURSED, reference: "the cursed one" });
  // Charts with about 40 s of history, and a rebuild half-way, so that its column says something.
  await Bun.sleep(20_000);
  await page.locator('tr[data-projection="analytics"]').getByRole("button", { name: "Rebuild" }).click();
  await Bun.sleep(20_000);
  // Nothing hovered or focused: the picture shows the page at rest.
  await page.locator("#projections-title").click();
  await page.mouse.move(0, 0);
  await page.screenshot({ path: join(root, "docs/console-projections.png"), fullPage: true });

  await page.goto(`${service.url}/console#dead-letters/accounts`);
  const letter = page.locator("#dead-letter-table tbody tr").first();
  await letter.waitFor();
  await letter.getByRole("button", { name: "Open" }).click();
  await page.locator("#dead-letter").waitFor();
  await page.screenshot({ path: join(root, "docs/console-dead-letters.png"), fullPage: true });

  await page.goto(`${service.url}/console#streams/accounts/alice`);
  await page.locator("#event-table tbody tr").first().waitFor();
  await page.locator('#event-table tr[data-version="3"]').getByRole("button", { name: "State here" }).click();
  await page.locator("#state-caption", { hasText: "right after event 3" }).waitFor();
  await page.screenshot({ path: join(root, "docs/console-stream.png"), fullPage: true });
} finally {
  going = false;
  await traffic;
  await browser.close();
  await service.stop();
  rmSync(scratch, { recursive: true, force: true });
}
console.log("docs/console-projections.png, docs/console-dead-letters.png, docs/console-stream.png");
