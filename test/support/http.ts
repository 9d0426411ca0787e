import { pollUntil } from "../../src/lib/poll.ts";

export interface Answer<T = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

export interface Client {
  post<T = Record<string, unknown>>(
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer<T>>;
  get<T = Record<string, unknown>>(path: string, headers?: Record<string, string>): Promise<Answer<T>>;
  raw(path: string, init: RequestInit): Promise<Answer>;
}

const answer = async <T>(response: Response): Promise<Answer<T>> => {
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text ? JSON.parse(text) : undefined) as T,
  };
};

/** A JSON client for one base URL; `headers` are sent with every request (e.g. Authorization). */
export const client = (baseUrl: string, headers: Record<string, string> = {}): Client => ({
  post: async (path, body = {}, extra = {}) =>
    answer(
      await fetch(baseUrl + path, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers, ...extra },
        body: JSON.stringify(body),
      }),
    ),
  get: async (path, extra = {}) => answer(await fetch(baseUrl + path, { headers: { ...headers, ...extra } })),
  raw: async (path, init) => answer(await fetch(baseUrl + path, init)),
});

export const openAccount = async (api: Client, accountId: string, currency = "EUR", deposit = 0) => {
  const opened = await api.post("/v1/accounts", { accountId, owner: `owner of ${accountId}`, currency });
  if (opened.status !== 201)
    throw new Error(`open ${accountId}: ${opened.status} ${JSON.stringify(opened.body)}`);
  if (deposit > 0) {
    const deposited = await api.post(`/v1/accounts/${accountId}/deposits`, { amount: deposit });
    if (deposited.status !== 200) throw new Error(`deposit ${accountId}: ${deposited.status}`);
  }
};

/** Polls until `check` holds and returns that value; past `ms`, fails naming the last value read. */
export const eventually = async <T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  ms = 10_000,
): Promise<T> => {
  let last: T | undefined;
  const found = await pollUntil(
    async () => {
      last = await read();
      return last;
    },
    check,
    { timeoutMs: ms },
  );
  if (found !== undefined || check(last as T)) return found as T;
  const seen = JSON.stringify(last, (_, v) => (v instanceof Headers ? "[headers]" : v))?.slice(0, 500);
  throw new Error(`eventually: not so within ${ms} ms; the last value read: ${seen}`);
};
