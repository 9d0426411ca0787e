/**
 * The typed client of eventfold's HTTP API: `import { createEventfoldClient } from "eventfold/client"`.
 * Its types are generated from the OpenAPI document the service serves (`npm run contract:generate`;
 * CI fails when they are stale), and its calls are openapi-fetch's: every path, parameter, body and
 * answer typed, problems included.
 *
 *   const api = createEventfoldClient({ baseUrl: "http://127.0.0.1:3000", token });
 *   const { data, error, response } = await api.POST("/v1/accounts/{id}/deposits", {
 *     params: { path: { id: "alice" } },
 *     body: { amount: 500 },
 *     headers: { "Idempotency-Key": "deposit-1" },
 *   });
 *   if (error) console.log(error.code); // a Problem
 *   else console.log(data.balance);
 */
import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { components, operations, paths } from "./schema.d.ts";

export type { components, operations, paths };

type Schemas = components["schemas"];
/** Every error answer: RFC 9457 problem+json with a stable `code` (docs/errors.md). */
export type Problem = Schemas["Problem"];
export type Account = Schemas["Account"];
export type Transfer = Schemas["Transfer"];
export type EventEnvelope = Schemas["EventEnvelope"];

export type EventfoldClient = Client<paths>;

export interface EventfoldClientOptions extends Omit<ClientOptions, "baseUrl"> {
  /** Where the service answers, e.g. `http://127.0.0.1:3000` (no trailing path). */
  readonly baseUrl: string;
  /** An API key's token, sent as `Authorization: Bearer <token>`; none where auth is off. */
  readonly token?: string;
}

export const createEventfoldClient = ({
  token,
  headers,
  ...options
}: EventfoldClientOptions): EventfoldClient => {
  const sent = new Headers(headers as ConstructorParameters<typeof Headers>[0]);
  if (token && !sent.has("Authorization")) sent.set("Authorization", `Bearer ${token}`);
  return createClient<paths>({ ...options, headers: sent });
};
