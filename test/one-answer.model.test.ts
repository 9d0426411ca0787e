/**
 * Model-based: random sequences of account and transfer commands, keys sent again with the same and
 * with other requests, against a real service process that is killed with -9 (some commands in
 * flight) and started again. A plain model of the accounts predicts every answer; after each sequence,
 * every key has had one answer however often it was sent, the balances are the model's, money is
 * conserved and no transfer is left pending. A failure shrinks to the shortest sequence that shows it.
 * MODEL_RUNS sets the number of sequences (default 10); fast-check prints the seed to repeat one.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import fc from "fast-check";
import { type Answer, type Client, client, eventually } from "./support/http.ts";
import { tempDir } from "./support/service.ts";
import { freePort, type ServerProcess, spawnServer } from "./support/subprocess.ts";

const ACCOUNTS = 4;
const TRANSFER_IDS = 3;

type Op =
  | { readonly kind: "open"; readonly account: number; readonly currency: "EUR" | "USD" }
  | { readonly kind: "deposit" | "withdraw"; readonly account: number; readonly amount: number }
  | { readonly kind: "close"; readonly account: number }
  | {
      readonly kind: "transfer";
      readonly from: number;
      readonly to: number;
      readonly amount: number;
      readonly transferId?: number;
    };

interface Request {
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly key?: string;
}

interface AccountModel {
  status: "open" | "closed";
  currency: string;
  balance: number;
  version: number;
}

type Decision = { readonly status: 202 } | { readonly status: 404 | 409; readonly code: string };

/** What a transfer is at when it is asked about again (accepted ones end before the next command). */

interface TransferModel {
  readonly from: string;
  readonly to: string;
  readonly amount: number;
  readonly decision: Decision;
  /** The status its acceptance is shown with when sent again without its first key: how it ended. */
  final?: "completed" | "refunded";
}

/** What a run knows; `prefix` keeps each run's aggregates apart on the one server. */
interface Model {
  readonly prefix: string;
  readonly accounts: Map<string, AccountModel>;
  /** By identity: the transfer id, or the key that names a transfer sent without one. */
  readonly transfers: Map<string, TransferModel>;
  /** Every keyed request sent, with every answer it got. */
  readonly keys: Map<string, { readonly request: Request; readonly answers: Answer[] }>;
  /** Accepted transfers: id → what they must end as. */
  readonly finals: Map<string, "completed" | "refunded">;
  deposited: number;
  withdrawn: number;
  nextKey: number;
}

/** The service under test: one process for the whole property, killed and started again by commands. */
interface Real {
  server: ServerProcess;
  api: Client;
  readonly dataDir: string;
}

const accountId = (m: Model, i: number) => `${m.prefix}-a${i}`;
const transferId = (m: Model, i: number) => `${m.prefix}-t${i}`;

const toRequest = (m: Model, op: Op, key: string | undefined): Request => {
  const withKey = key === undefined ? {} : { key };
  switch (op.kind) {
    case "open":
      return {
        path: "/v1/accounts",
        body: { accountId: accountId(m, op.account), owner: "o", currency: op.currency },
        ...withKey,
      };
    case "deposit":
    case "withdraw":
      return {
        path: `/v1/accounts/${accountId(m, op.account)}/${op.kind === "deposit" ? "deposits" : "withdrawals"}`,
        body: { amount: op.amount },
        ...withKey,
      };
    case "close":
      return { path: `/v1/accounts/${accountId(m, op.account)}/close`, body: {}, ...withKey };
    case "transfer":
      return {
        path: "/v1/transfers",
        body: {
          ...(op.transferId === undefined ? {} : { transferId: transferId(m, op.transferId) }),
          from: accountId(m, op.from),
          to: accountId(m, op.to),
          amount: op.amount,
        },
        ...withKey,
      };
  }
};

const refusal = (status: 404 | 409, code: string) => ({ status, code }) as const;

/**
 * What the service must answer to `op`, and the model after it. Transfers end (credit or refund)
 * before the next command, so the destination is as the model has it when the credit comes.
 */
const decide = (
  m: Model,
  op: Op,
  key: string | undefined,
): {
  status: number;
  code?: string;
  body?: Record<string, unknown>;
  /** A transfer's status in a 202. */
  transferStatus?: string;
  apply: (answer: Answer) => void;
} => {
  if (op.kind === "transfer") {
    const from = accountId(m, op.from);
    const to = accountId(m, op.to);
    const identity = op.transferId !== undefined ? transferId(m, op.transferId) : key && `key:${key}`;
    const known = identity ? m.transfers.get(identity) : undefined;
    if (known) {
      const same = known.from === from && known.to === to && known.amount === op.amount;
      const decision = same ? known.decision : refusal(409, "transfer_exists");
      return { ...decision, transferStatus: known.final, apply: () => {} };
    }
    const source = m.accounts.get(from);
    const destination = m.accounts.get(to);
    const decision: Decision = !source
      ? refusal(404, "not_found")
      : source.status === "closed"
        ? refusal(409, "account_closed")
        : destination && destination.currency !== source.currency
          ? refusal(409, "currency_mismatch")
          : op.amount > source.balance
            ? refusal(409, "insufficient_funds")
            : { status: 202 };
    const credited = destination?.status === "open";
    const final = credited ? "completed" : "refunded";
    return {
      ...decision,
      transferStatus: "pending",
      apply: (answer) => {
        const accepted = decision.status === 202 && source;
        if (identity) {
          m.transfers.set(identity, {
            from,
            to,
            amount: op.amount,
            decision,
            ...(accepted ? { final } : {}),
          });
        }
        if (!accepted) return;
        source.balance -= op.amount;
        source.version += 1;
        const payee = credited ? destination : source;
        payee.balance += op.amount;
        payee.version += 1;
        m.finals.set(String(answer.body.transferId), final);
      },
    };
  }
  const id = accountId(m, op.account);
  const acc = m.accounts.get(id);
  if (op.kind === "open") {
    if (acc) return { ...refusal(409, "account_exists"), apply: () => {} };
    return {
      status: 201,
      body: { accountId: id, version: 1, balance: 0, status: "open" },
      apply: () => m.accounts.set(id, { status: "open", currency: op.currency, balance: 0, version: 1 }),
    };
  }
  if (!acc) return { ...refusal(404, "not_found"), apply: () => {} };
  if (acc.status === "closed") return { ...refusal(409, "account_closed"), apply: () => {} };
  switch (op.kind) {
    case "deposit":
      return {
        status: 200,
        body: { accountId: id, version: acc.version + 1, balance: acc.balance + op.amount },
        apply: () => {
          acc.balance += op.amount;
          acc.version += 1;
          m.deposited += op.amount;
        },
      };
    case "withdraw":
      if (op.amount > acc.balance) return { ...refusal(409, "insufficient_funds"), apply: () => {} };
      return {
        status: 200,
        body: { accountId: id, version: acc.version + 1, balance: acc.balance - op.amount },
        apply: () => {
          acc.balance -= op.amount;
          acc.version += 1;
          m.withdrawn += op.amount;
        },
      };
    case "close":
      if (acc.balance !== 0) return { ...refusal(409, "balance_not_zero"), apply: () => {} };
      return {
        status: 200,
        body: { accountId: id, version: acc.version + 1, status: "closed" },
        apply: () => {
          acc.status = "closed";
          acc.version += 1;
        },
      };
  }
};

/** Sends one request; retries a connection refused (the server is starting) but not a lost answer. */
const send = (real: Real, request: Request): Promise<Answer> =>
  real.api.post(request.path, request.body, request.key ? { "Idempotency-Key": request.key } : {});

const remember = (m: Model, request: Request, answer: Answer) => {
  if (!request.key) return;
  const entry = m.keys.get(request.key);
  if (entry) entry.answers.push(answer);
  else m.keys.set(request.key, { request, answers: [answer] });
};

/** Checks an answer against the model's prediction and moves the model on. */
const expectDecided = async (m: Model, real: Real, op: Op, request: Request, answer: Answer) => {
  const expected = decide(m, op, request.key);
  const seen = { status: answer.status, code: answer.body?.code };
  expect([request, seen]).toEqual([request, { status: expected.status, code: expected.code }]);
  if (expected.body) expect([request, answer.body]).toEqual([request, expected.body]);
  if (op.kind === "transfer" && answer.status === 202) {
    expect([request, answer.body.status]).toEqual([request, expected.transferStatus]);
    // The transfer ends before the next command: the model credits or refunds it at once.
    await eventually(
      () => real.api.get(`/v1/transfers/${answer.body.transferId}`),
      (t) => t.body.status !== "pending",
      15_000,
    );
  }
  expected.apply(answer);
  remember(m, request, answer);
};

const freshKey = (m: Model) => `${m.prefix}-k${m.nextKey++}`;

class Command implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly op: Op,
    readonly keyed: boolean,
  ) {}
  check = () => true;
  async run(m: Model, real: Real) {
    const request = toRequest(m, this.op, this.keyed ? freshKey(m) : undefined);
    await expectDecided(m, real, this.op, request, await send(real, request));
  }
  toString = () => `${this.keyed ? "keyed " : ""}${JSON.stringify(this.op)}`;
}

/** A keyed request sent again, the same: its first answer, whatever happened since. */
class Retry implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.keys.size > 0;
  async run(m: Model, real: Real) {
    const entries = [...m.keys.values()];
    const entry = entries[this.pick % entries.length];
    if (!entry) return;
    const again = await send(real, entry.request);
    const first = entry.answers[0] as Answer;
    expect([entry.request, again.status, again.body]).toEqual([entry.request, first.status, first.body]);
    entry.answers.push(again);
  }
  toString = () => `retry #${this.pick}`;
}

/** A key sent again with another request: refused with 422, nothing done. */
class Reuse implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pick: number,
    readonly op: Op,
  ) {}
  check = (m: Readonly<Model>) => m.keys.size > 0;
  async run(m: Model, real: Real) {
    const entries = [...m.keys.values()];
    const entry = entries[this.pick % entries.length];
    const key = entry?.request.key;
    if (!entry || !key) return;
    const request = toRequest(m, this.op, key);
    const same =
      request.path === entry.request.path &&
      JSON.stringify(request.body) === JSON.stringify(entry.request.body);
    if (same) return;
    const answer = await send(real, request);
    expect([request, answer.status, answer.body?.code]).toEqual([request, 422, "idempotency_key_reused"]);
  }
  toString = () => `reuse key #${this.pick} for ${JSON.stringify(this.op)}`;
}

const accountsOf = (op: Op): number[] => (op.kind === "transfer" ? [op.from, op.to] : [op.account]);

/**
 * kill -9 while some keyed commands (on accounts none of the others touches, so their order does not
 * matter) are in flight, start again, and send each unanswered one again with its key, as a client
 * would. Every one of them must then be answered as the model says, once.
 */
class Crash implements fc.AsyncCommand<Model, Real> {
  readonly ops: readonly Op[];
  constructor(
    ops: readonly Op[],
    readonly afterMs: number,
  ) {
    const taken = new Set<string>();
    this.ops = ops.filter((op) => {
      const touched = [
        ...accountsOf(op).map((a) => `a${a}`),
        ...(op.kind === "transfer" && op.transferId !== undefined ? [`t${op.transferId}`] : []),
      ];
      if (touched.some((a) => taken.has(a))) return false;
      for (const a of touched) taken.add(a);
      return true;
    });
  }
  check = () => true;
  async run(m: Model, real: Real) {
    const requests = this.ops.map((op) => toRequest(m, op, freshKey(m)));
    const inFlight = requests.map((request) => send(real, request).catch(() => undefined));
    await Bun.sleep(this.afterMs);
    real.server.process.kill(9);
    await real.server.exited;
    const answers = await Promise.all(inFlight);
    real.server = await spawnServer(real.dataDir, freePort());
    real.api = client(real.server.url);
    for (const [i, op] of this.ops.entries()) {
      const request = requests[i] as Request;
      const answer = answers[i] ?? (await send(real, request));
      await expectDecided(m, real, op, request, answer);
    }
  }
  toString = () => `kill -9 after ${this.afterMs} ms with ${JSON.stringify(this.ops)} in flight`;
}

const account = fc.nat(ACCOUNTS - 1);
const amount = fc.oneof(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 500 }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("open" as const),
      account,
      currency: fc.constantFrom("EUR" as const, "EUR" as const, "USD" as const),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("deposit" as const), account, amount }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("withdraw" as const), account, amount }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("close" as const), account }) },
  {
    weight: 3,
    arbitrary: fc
      .record(
        {
          kind: fc.constant("transfer" as const),
          from: account,
          to: account,
          amount,
          transferId: fc.nat(TRANSFER_IDS - 1),
        },
        { requiredKeys: ["kind", "from", "to", "amount"] },
      )
      .filter((t) => t.from !== t.to),
  },
);

const command = fc.tuple(opArb, fc.boolean()).map(([op, keyed]) => new Command(op, keyed));
const commands = fc.commands(
  [
    // fc.commands picks among these evenly: plain commands come up most, a crash about one time in ten.
    ...Array.from({ length: 6 }, () => command),
    fc.nat().map((pick) => new Retry(pick)),
    fc.nat().map((pick) => new Retry(pick)),
    fc.tuple(fc.nat(), opArb).map(([pick, op]) => new Reuse(pick, op)),
    fc
      .tuple(fc.array(opArb, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 40 }))
      .map(([ops, afterMs]) => new Crash(ops, afterMs)),
  ],
  { maxCommands: 40, size: "medium" },
);

/** Every sequence starts with three open accounts holding money, so most commands have something to do. */
const prelude: readonly Command[] = [0, 1, 2].flatMap((account) => [
  new Command({ kind: "open", account, currency: "EUR" }, true),
  new Command({ kind: "deposit", account, amount: 500 }, true),
]);

let real: Real;
let runs = 0;

beforeAll(async () => {
  const dataDir = tempDir();
  const server = await spawnServer(dataDir, freePort());
  real = { server, api: client(server.url), dataDir };
});

afterAll(async () => {
  real.server.process.kill(9);
  await real.server.exited;
  rmSync(real.dataDir, { recursive: true, force: true });
});

/** After a sequence: one answer per key, the model's balances, money conserved, nothing pending. */
const settle = async (m: Model) => {
  for (const { request, answers } of m.keys.values()) {
    const again = await send(real, request);
    const first = answers[0] as Answer;
    for (const answer of [...answers, again]) {
      expect([request, answer.status, answer.body]).toEqual([request, first.status, first.body]);
    }
  }
  for (const [id, final] of m.finals) {
    const transfer = await eventually(
      () => real.api.get(`/v1/transfers/${id}`),
      (t) => t.body.status !== "pending",
      15_000,
    );
    expect([id, transfer.body.status]).toEqual([id, final]);
  }
  let balances = 0;
  let fromEvents = 0;
  for (let i = 0; i < ACCOUNTS; i++) {
    const id = accountId(m, i);
    const state = await real.api.get(`/v1/accounts/${id}/state`);
    const expected = m.accounts.get(id);
    if (!expected) {
      expect([id, state.status]).toEqual([id, 404]);
      continue;
    }
    const { balance, version, status } = expected;
    expect([id, state.body]).toEqual([id, expect.objectContaining({ balance, version, status })]);
    balances += Number(state.body.balance);
    const events = await real.api.get<{ events: { type: string; data: { amount?: number } }[] }>(
      `/v1/accounts/${id}/events?limit=1000`,
    );
    for (const e of events.body.events) {
      if (e.type === "MoneyDeposited") fromEvents += e.data.amount ?? 0;
      if (e.type === "MoneyWithdrawn") fromEvents -= e.data.amount ?? 0;
    }
  }
  expect(balances).toBe(m.deposited - m.withdrawn);
  expect(balances).toBe(fromEvents);
};

test("one answer per command, money exact, across kill -9: a model-based run", async () => {
  const numRuns = Number(process.env.MODEL_RUNS ?? 10);
  await fc.assert(
    fc.asyncProperty(commands, async (sequence) => {
      const model: Model = {
        prefix: `m${process.pid}-${++runs}`,
        accounts: new Map(),
        transfers: new Map(),
        keys: new Map(),
        finals: new Map(),
        deposited: 0,
        withdrawn: 0,
        nextKey: 0,
      };
      for (const step of prelude) await step.run(model, real);
      await fc.asyncModelRun(() => ({ model, real }), sequence);
      await settle(model);
      if (process.env.MODEL_DEBUG) console.info(`${model.prefix}: ${sequence.toString()}`);
    }),
    { numRuns, interruptAfterTimeLimit: 150_000 },
  );
}, 240_000);
