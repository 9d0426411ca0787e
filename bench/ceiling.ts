/**
 * The ceiling: a bare Hono route on Bun.serve that parses and validates the same JSON body as the
 * deposit route and answers from memory. Nothing eventfold does (actors, durability, events) is here,
 * so its throughput is what this machine and this generator allow; every figure is reported against it.
 */
import { Hono } from "hono";
import { MoneyMovementBody } from "../actors/account/commands.ts";
import { IdParams } from "../src/http/values.ts";

const balances = new Map<string, { version: number; balance: number }>();
let requests = 0;
const app = new Hono();

app.post("/v1/accounts/:id/deposits", async (c) => {
  requests++;
  const params = IdParams.safeParse(c.req.param());
  const body = MoneyMovementBody.safeParse(await c.req.json().catch(() => undefined));
  if (!params.success || !body.success) return c.json({ code: "validation_failed" }, 400);
  const account = balances.get(params.data.id) ?? { version: 1, balance: 0 };
  account.version += 1;
  account.balance += body.data.amount;
  balances.set(params.data.id, account);
  return c.json({ accountId: params.data.id, version: account.version, balance: account.balance });
});
app.get("/requests", (c) => c.json({ requests }));

const server = Bun.serve({ port: Number(process.env.PORT ?? 3999), hostname: "127.0.0.1", fetch: app.fetch });
console.log(`ceiling on ${server.port}`);
