/**
 * The typed client of eventfold's HTTP API, for services in Node 20+, Bun, Deno and browsers (it is
 * fetch-based). Its types are generated from the OpenAPI document the service serves, and its calls
 * are openapi-fetch's: every path, parameter, body and answer typed, problems included.
 *
 *   const api = createEventfoldClient({ baseUrl: "http://127.0.0.1:3000", token });
 *   const { data, error } = await api.POST("/v1/accounts/{id}/deposits", {
 *     params: { path: { id: "alice" } },
 *     body: { amount: 500 },
 *     headers: { "Idempotency-Key": "deposit-1" },
 *   });
 *   if (error) console.log(error.code); // a Problem
 *   else console.log(data.balance);
 *
 * `api.subscribe` follows the event log (Server-Sent Events), handing each event to its handler once,
 * in order, and keeping its place in a `Checkpoint`.
 */
import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { components, operations, paths } from "./schema.js";
import { type SubscribeOptions, type Subscription, subscribe } from "./subscription.js";

export type { Checkpoint, MemoryCheckpoint } from "./checkpoint.js";
export { memoryCheckpoint } from "./checkpoint.js";
export type {
  EventEnvelope,
  Problem,
  Reconnection,
  SubscribeOptions,
  Subscription,
  SubscriptionFilters,
  SubscriptionStatus,
} from "./subscription.js";
export { SubscriptionError } from "./subscription.js";
export type { components, operations, paths };

type Schemas = components["schemas"];
export type Account = Schemas["Account"];
export type Transfer = Schemas["Transfer"];

export interface EventfoldClient extends Client<paths> {
  /** Follows the event log from `checkpoint` on: see `SubscribeOptions`. */
  subscribe(options: SubscribeOptions): Subscription;
}

export interface EventfoldClientOptions extends Omit<ClientOptions, "baseUrl"> {
  /** Where the service answers, e.g. `http://127.0.0.1:3000` (no trailing path). */
  readonly baseUrl: string;
  /** An API key's token, sent as `Authorization: Bearer <token>`; none where auth is off. */
  readonly token?: string;
}

/** The headers every call sends; openapi-fetch's own form may hold null and undefined, which mean "none". */
const headersOf = (given: ClientOptions["headers"]): Headers => {
  if (given === undefined || given instanceof Headers || Array.isArray(given)) return new Headers(given);
  const headers = new Headers();
  for (const [name, value] of Object.entries(given)) {
    if (value === null || value === undefined) continue;
    headers.set(name, Array.isArray(value) ? value.join(", ") : String(value));
  }
  return headers;
};

export const createEventfoldClient = ({
  token,
  headers,
  ...options
}: EventfoldClientOptions): EventfoldClient => {
  const sent = headersOf(headers);
  if (token && !sent.has("Authorization")) sent.set("Authorization", `Bearer ${token}`);
  const client = createClient<paths>({ ...options, headers: sent });
  const fetch = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  return Object.assign(client, {
    subscribe: (subscription: SubscribeOptions) =>
      subscribe({ baseUrl: options.baseUrl, headers: sent, fetch }, subscription),
  });
};
