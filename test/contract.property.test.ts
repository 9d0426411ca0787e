/**
 * Generated requests against the served OpenAPI document: for every operation it lists, valid requests
 * made from its own schemas (json-schema-faker) and invalid ones (each a known way to be wrong), sent
 * in process to the whole service with the role the operation names, and every answer checked against
 * the document (Ajv): a documented status and content type, a body of the documented schema, the
 * headers it marks required, never a 5xx. A valid request is never refused as invalid; an invalid one
 * gets the status its fault calls for.
 *
 *   CONTRACT_RUNS=2000 bun test test/contract.property.test.ts      more requests per operation
 *   CONTRACT_SEED=<seed> [CONTRACT_PATH=<path> CONTRACT_ONLY=<name>] bun test …   replay a failure
 */
import { afterAll, expect, test } from "bun:test";
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import fc from "fast-check";
import { generateSync } from "json-schema-faker";
import { viewsDatabase } from "../projections/analytics/views.ts";
import { edgeProblemTypes } from "../src/http/problem-types.ts";
import { eventually } from "./support/http.ts";
import { decorate } from "./support/read-side.ts";
import { startTestService } from "./support/service.ts";

type Schema = Record<string, unknown>;
interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  required: boolean;
  schema: Schema;
}
interface DocumentedResponse {
  headers?: Record<string, { required?: boolean; schema: Schema }>;
  content?: Record<string, { schema: Schema }>;
  description?: string;
}
interface Operation {
  operationId: string;
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { required: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, DocumentedResponse>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

const RUNS = Number(process.env.CONTRACT_RUNS ?? 200);
const SEED = Number(process.env.CONTRACT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PATH = process.env.CONTRACT_PATH;
/** The one property `CONTRACT_PATH` replays, by its name ("deposit round 1"); the others run as usual. */
const ONLY = process.env.CONTRACT_ONLY;
console.info(
  `contract property test: seed ${SEED}, ${RUNS} requests per operation (replay: CONTRACT_SEED=${SEED})`,
);

const tokens = { reader: "reader-token", writer: "writer-token", admin: "admin-token" } as const;
type Role = keyof typeof tokens;
/** Deposits with this reference are never applied by the accounts' read model: they make dead letters. */
const POISON = "contract: dead letter";
const service = await startTestService(
  {
    apiKeys: (Object.keys(tokens) as Role[]).map((role) => ({ name: role, role, token: tokens[role] })),
    checkResponses: true,
    // A read with minVersion past the read model, or a long poll of events, waits this long at most:
    // the waits are not under test.
    readYourWritesMs: 20,
    eventsMaxWaitMs: 20,
    retryAttempts: 1,
  },
  {
    projections: decorate((projection, apply) => async (events, context) => {
      const poisoned = events.some((e) => (e.data as { reference?: string }).reference === POISON);
      if (projection.name === "accounts" && poisoned) throw new Error("a poisoned deposit");
      await apply(events, context);
    }),
  },
);
afterAll(() => service.dispose());

/**
 * Dead letters for the routes that replay or discard one, their event ids known to the generator: a
 * replayed one fails again and comes back, so the supply lasts.
 */
const seedDeadLetters = async (count: number) => {
  const admin = { authorization: `Bearer ${tokens.admin}`, "content-type": "application/json" };
  const writer = { ...admin, authorization: `Bearer ${tokens.writer}` };
  const open = { accountId: "contract-dead-letters", owner: "contract", currency: "EUR" };
  await send("POST", "/v1/accounts", writer, JSON.stringify(open));
  for (let i = 0; i < count; i++) {
    const deposit = { amount: 1 + i, reference: POISON };
    await send("POST", "/v1/accounts/contract-dead-letters/deposits", writer, JSON.stringify(deposit));
  }
  const letters = await eventually(
    async () =>
      (
        (await (await send("GET", "/v1/admin/dead-letters?projection=accounts", admin)).json()) as {
          deadLetters: { accounts: { event: { eventId: string } }[] };
        }
      ).deadLetters.accounts,
    (list) => list.length >= count,
    30_000,
  );
  for (const letter of letters) keep("eventId", letter.event.eventId);
  keep("projection", "accounts");
};

const send = async (
  method: string,
  target: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Response> => service.fetch(new Request(`http://edge${target}`, { method, headers, body }));
const document = (await (await send("GET", "/openapi.json", {})).json()) as Document;

/** The schema with every `$ref` to a component replaced by that component, for the generator. */
const inline = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(inline);
  if (value === null || typeof value !== "object") return value;
  const { $ref, ...rest } = value as Schema;
  const resolved =
    typeof $ref === "string"
      ? inline(document.components.schemas[$ref.replace("#/components/schemas/", "")])
      : {};
  return {
    ...(resolved as Schema),
    ...Object.fromEntries(Object.entries(rest).map(([key, v]) => [key, inline(v)])),
  };
};

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const validators = new Map<Schema, ValidateFunction>();
const validatorOf = (schema: Schema) => {
  let validate = validators.get(schema);
  if (!validate) {
    validate = ajv.compile(inline(schema) as Schema);
    validators.set(schema, validate);
  }
  return validate;
};

/** A value of the schema, from json-schema-faker with this seed. */
const fake = (schema: Schema, seed: number): unknown =>
  generateSync(inline(schema) as Schema, { seed, optionalsProbability: 0.5 });

const ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$";

/**
 * Values the service answered with, by the field that held them (`accountId`, `name`, `code`), and
 * the ids in `Location` headers by the collection they are in. A parameter or field is drawn from
 * them 7 times in 10, so that requests reach past "no such account" to what the route does:
 * `{id}` after `/transfers/` from the `transferId`s, `{code}` from the `code`s.
 */
const known = new Map<string, string[]>();
const keep = (key: string, value: string) => {
  const values = known.get(key) ?? [];
  if (!values.includes(value)) values.push(value);
  if (values.length > 300) values.shift();
  known.set(key, values);
};
/** The field an `{id}` in this path names: `/v1/transfers/{id}` holds a `transferId`. */
const idFieldOf = (path: string, param: string): string => {
  const collection = path.split("/").at(path.split("/").indexOf(`{${param}}`) - 1) ?? "";
  return param === "id" ? `${collection.replace(/s$/, "")}Id` : param;
};
const remember = (value: unknown, location: string | null, depth = 0): void => {
  if (location) {
    const segments = location.split("/");
    keep(idFieldOf(`${segments.slice(0, -1).join("/")}/{id}`, "id"), segments.at(-1) ?? "");
  }
  if (depth > 4 || value === null || typeof value !== "object") return;
  for (const [key, v] of Object.entries(value)) {
    // The ids an answer is about are at its top (`accountId`); deeper ones are its events' metadata.
    const about = depth === 0 || !key.endsWith("Id");
    if (!Array.isArray(value) && typeof v === "string" && v.length <= 128) {
      if (about) keep(key, v);
    } else remember(v, null, depth + 1);
  }
};
const isId = (schema: Schema) => (inline(schema) as Schema).pattern === ID_PATTERN;
/** A value the service gave for this parameter or field that fits its schema, if the choice says so. */
const knownValue = (
  field: string,
  schema: Schema,
  choice: number,
  which: number,
  inText = false,
): string | undefined => {
  if (choice >= 0.7) return undefined;
  // A parameter is text: a known whole number fits an integer parameter as its digits.
  const fits = (values: readonly string[]) =>
    values.filter(
      (v) => validatorOf(schema)(v) || (inText && /^\d{1,15}$/.test(v) && validatorOf(schema)(Number(v))),
    );
  const values = (keep: (key: string) => boolean) =>
    fits([...known].filter(([key]) => keep(key)).flatMap(([, v]) => v));
  // Its own field's; else, for an id, any id; else any value the service gave that fits.
  const candidates = [
    fits(known.get(field) ?? []),
    isId(schema) ? values((key) => key.endsWith("Id")) : [],
    values(() => true),
  ].find((c) => c.length > 0);
  // The first ones most often: requests meet again on a few accounts, which so get funded, share a
  // currency and can be withdrawn from and transferred from, as a client's requests do.
  return candidates ? pick(candidates, which * which) : undefined;
};

/** The ways a request can be wrong, each with the status its fault calls for. */
const faults = {
  noToken: 401,
  roleTooLow: 403,
  unknownQuery: 400,
  duplicatedQuery: 400,
  queryOutOfSchema: 400,
  pathOutOfSchema: 400,
  wrongContentType: 415,
  bodyNotJson: 400,
  bodyMissingField: 400,
  bodyExtraField: 400,
  bodyWrongType: 400,
  bodyOutOfRange: 400,
  bodyDuplicateKey: 400,
  oversizedHead: 431,
  badIfMatch: 400,
  badIdempotencyKey: 400,
} as const;
type Fault = keyof typeof faults;

interface Endpoint {
  readonly method: string;
  readonly path: string;
  readonly operation: Operation;
  readonly role: Role | undefined;
  readonly params: Parameter[];
  readonly body: Schema | undefined;
}

const endpoints: Endpoint[] = Object.entries(document.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, operation]) => ({
    method: method.toUpperCase(),
    path,
    operation,
    role: operation.security?.[0]?.bearer?.[0] as Role | undefined,
    params: operation.parameters ?? [],
    body: operation.requestBody?.content["application/json"]?.schema,
  })),
);

const lowerRole: Partial<Record<Role, Role>> = { writer: "reader", admin: "writer" };
const propertiesOf = (schema: Schema | undefined) =>
  ((schema && (inline(schema) as Schema).properties) ?? {}) as Record<string, Schema>;
const requiredOf = (schema: Schema | undefined) =>
  ((schema && (inline(schema) as Schema).required) ?? []) as string[];

/** Values the schema refuses: past its bounds, off its pattern or enum, not its type. */
const outOfSchema = (schema: Schema): unknown[] => {
  const s = inline(schema) as Schema;
  const values: unknown[] = [];
  if (s.type === "integer" || s.type === "number") {
    if (typeof s.minimum === "number") values.push(s.minimum - 1);
    if (typeof s.maximum === "number" && s.maximum < Number.MAX_SAFE_INTEGER) values.push(s.maximum + 1);
    values.push(1.5, "many");
  }
  if (s.type === "string") {
    if (typeof s.maxLength === "number") values.push("a".repeat(s.maxLength + 1));
    if (typeof s.minLength === "number" && s.minLength > 0) values.push("");
    if (s.pattern === ID_PATTERN) values.push("not an id!", "x".repeat(65));
    else if (typeof s.pattern === "string") values.push("\u0007!");
    if (s.format === "date-time") values.push("yesterday", "2026-02-30T00:00:00Z");
  }
  if (Array.isArray(s.enum)) values.push("none-of-these");
  return values;
};

/** The faults that can be made of a request to this endpoint. */
const faultsOf = (endpoint: Endpoint): Fault[] => {
  const { method, role, params, body } = endpoint;
  const command = params.some((p) => p.in === "header" && p.name === "Idempotency-Key");
  const post = method === "POST";
  const applies: Record<Fault, boolean> = {
    noToken: role !== undefined,
    roleTooLow: role !== undefined && lowerRole[role] !== undefined,
    unknownQuery: true,
    duplicatedQuery: true,
    queryOutOfSchema: params.some((p) => p.in === "query" && outOfSchema(p.schema).length > 0),
    pathOutOfSchema: params.some((p) => p.in === "path" && outOfSchema(p.schema).length > 0),
    wrongContentType: post,
    bodyNotJson: post,
    bodyMissingField: requiredOf(body).length > 0,
    bodyExtraField: post,
    bodyWrongType: Object.keys(propertiesOf(body)).length > 0,
    bodyOutOfRange: Object.values(propertiesOf(body)).some((p) => outOfSchema(p).length > 0),
    bodyDuplicateKey: Object.keys(propertiesOf(body)).length > 0,
    oversizedHead: true,
    badIfMatch: command,
    badIdempotencyKey: command,
  };
  return (Object.keys(applies) as Fault[]).filter((fault) => applies[fault]);
};

const pick = <T>(values: readonly T[], choice: number): T => values[Math.floor(choice * values.length)] as T;

interface Built {
  target: string;
  headers: Record<string, string>;
  body?: string;
}

/**
 * A request the document allows, its values from the schemas and those the service gave. It uses the
 * choices 0 to 31; a fault, 40 and up, so that the two are drawn apart.
 */
const validRequest = (endpoint: Endpoint, seed: number, choices: readonly number[]): Built => {
  const at = (k: number) => choices[k] ?? 0;
  let path = endpoint.path;
  const query: [string, string][] = [];
  const headers: Record<string, string> = {};
  endpoint.params.forEach((param, i) => {
    const field = param.in === "path" ? idFieldOf(endpoint.path, param.name) : param.name;
    const value =
      knownValue(field, param.schema, at(i), at(i + 8), true) ?? String(fake(param.schema, seed + i));
    if (param.in === "path") path = path.replace(`{${param.name}}`, encodeURIComponent(value));
    else if (param.in === "query" && (param.required || at(i + 16) < 0.5)) query.push([param.name, value]);
    // A header value cannot hold a line end (the generator may make one of `\s`).
    else if (param.in === "header" && at(i + 16) < 0.3 && /^[\x20-\x7e]*$/.test(value))
      headers[param.name] = value;
  });
  if (endpoint.role) headers.Authorization = `Bearer ${tokens[endpoint.role]}`;
  let body: string | undefined;
  if (endpoint.body && (endpoint.operation.requestBody?.required || at(31) < 0.7)) {
    const value = fake(endpoint.body, seed) as Record<string, unknown>;
    // What a POST creates is new: its own id (`transferId` of POST /v1/transfers) is never a known one.
    const created = idFieldOf(`${endpoint.path}/{id}`, "id");
    Object.entries(propertiesOf(endpoint.body)).forEach(([name, property], i) => {
      const given =
        name in value && name !== created
          ? knownValue(name, property, at(24 + (i % 6)), at(20 + (i % 4)))
          : undefined;
      if (given !== undefined) value[name] = given;
    });
    body = JSON.stringify(value);
    headers["Content-Type"] = "application/json";
  }
  const search = new URLSearchParams(query).toString();
  return { target: search ? `${path}?${search}` : path, headers, body };
};

/** Where a 400 must say the fault is: the part of the request, and the name it gives (path or message). */
interface Issue {
  readonly in: "query" | "path" | "body" | "header";
  readonly name: string;
  readonly message?: string;
}

/** The same request, wrong in one way; for a 400, where its refusal must say the fault is. */
const withFault = (
  endpoint: Endpoint,
  request: Built,
  fault: Fault,
  choices: readonly number[],
): { request: Built; issue?: Issue } => {
  const at = (k: number) => choices[k] ?? 0;
  const { target, headers } = request;
  const [path, search = ""] = target.split("?");
  const query = new URLSearchParams(search);
  const withQuery = () => ({ ...request, target: `${path}?${query}` });
  const bodyValue = (): Record<string, unknown> =>
    request.body
      ? JSON.parse(request.body)
      : (fake(endpoint.body ?? { type: "object" }, 7) as Record<string, unknown>);
  const jsonBody = (value: unknown, text = JSON.stringify(value)) => ({
    ...request,
    headers: { ...headers, "Content-Type": "application/json" },
    body: text,
  });
  const bodyField = (names: string[]) => pick(names, at(40));
  switch (fault) {
    case "noToken": {
      const { Authorization: _, ...rest } = headers;
      return { request: { ...request, headers: rest } };
    }
    case "roleTooLow": {
      const lower = lowerRole[endpoint.role as Role] as Role;
      return { request: { ...request, headers: { ...headers, Authorization: `Bearer ${tokens[lower]}` } } };
    }
    case "unknownQuery":
      query.append("notAParameter", "1");
      return { request: withQuery(), issue: { in: "query", name: "notAParameter" } };
    case "duplicatedQuery": {
      const params = endpoint.params.filter((p) => p.in === "query");
      const param = params.length > 0 ? pick(params, at(40)) : undefined;
      const name = param?.name ?? "notAParameter";
      const value = query.get(name) ?? (param ? String(fake(param.schema, 3)) : "1");
      query.delete(name);
      query.append(name, value);
      query.append(name, value);
      return {
        request: withQuery(),
        issue: { in: "query", name, message: "given more than once: give it once" },
      };
    }
    case "queryOutOfSchema": {
      const params = endpoint.params.filter((p) => p.in === "query" && outOfSchema(p.schema).length > 0);
      const param = pick(params, at(40));
      query.set(param.name, String(pick(outOfSchema(param.schema), at(41))));
      return { request: withQuery(), issue: { in: "query", name: param.name } };
    }
    case "pathOutOfSchema": {
      const param = endpoint.params.find(
        (p) => p.in === "path" && outOfSchema(p.schema).length > 0,
      ) as Parameter;
      const segments = (path ?? "").split("/");
      segments[endpoint.path.split("/").indexOf(`{${param.name}}`)] = encodeURIComponent(
        String(pick(outOfSchema(param.schema), at(41))),
      );
      const wrongPath = `${segments.join("/")}${search ? `?${search}` : ""}`;
      return { request: { ...request, target: wrongPath }, issue: { in: "path", name: param.name } };
    }
    case "wrongContentType": {
      const contentType = pick(
        [
          "text/plain",
          "application/merge-patch+json",
          "application/json-patch+json",
          "application/xml",
          "application/x-www-form-urlencoded",
        ],
        at(40),
      );
      const body = request.body ?? "{}";
      return { request: { ...request, headers: { ...headers, "Content-Type": contentType }, body } };
    }
    case "bodyNotJson":
      return {
        request: jsonBody(undefined, pick(["{", "nope", "{'a':1}", "[1,"], at(40))),
        issue: { in: "body", name: "(body)" },
      };
    case "bodyMissingField": {
      const value = bodyValue();
      const name = bodyField(requiredOf(endpoint.body));
      delete value[name];
      return { request: jsonBody(value), issue: { in: "body", name } };
    }
    case "bodyExtraField":
      return {
        request: jsonBody({ ...(endpoint.body ? bodyValue() : {}), notAField: 1 }),
        issue: { in: "body", name: "notAField" },
      };
    case "bodyWrongType": {
      const value = bodyValue();
      const properties = propertiesOf(endpoint.body);
      const name = bodyField(Object.keys(properties));
      // Of another JSON type than the field's: `{}` is no wrong type for an object (`params`).
      const wrong: Record<string, unknown[]> = {
        string: [5, true, null, ["a"]],
        object: ["5", true, null, [1]],
      };
      value[name] = pick(wrong[String(properties[name]?.type)] ?? ["5", true, null, {}], at(41));
      return { request: jsonBody(value), issue: { in: "body", name } };
    }
    case "bodyOutOfRange": {
      const value = bodyValue();
      const properties = propertiesOf(endpoint.body);
      const name = bodyField(
        Object.keys(properties).filter((n) => outOfSchema(properties[n] ?? {}).length > 0),
      );
      value[name] = pick(outOfSchema(properties[name] ?? {}), at(41));
      return { request: jsonBody(value), issue: { in: "body", name } };
    }
    case "bodyDuplicateKey": {
      const value = bodyValue();
      const name = bodyField(Object.keys(propertiesOf(endpoint.body)));
      const key = JSON.stringify(name);
      const text = JSON.stringify(value);
      const twice =
        name in value ? `{${key}:${JSON.stringify(value[name])},${text.slice(1)}` : `{${key}:1,${key}:1}`;
      return { request: jsonBody(value, twice), issue: { in: "body", name } };
    }
    case "oversizedHead":
      return { request: { ...request, headers: { ...headers, "X-Padding": "p".repeat(17 * 1024) } } };
    case "badIfMatch": {
      const ifMatch = pick(["3", 'W/"3"', '"x"', "*"], at(40));
      return {
        request: { ...request, headers: { ...headers, "If-Match": ifMatch } },
        issue: { in: "header", name: "If-Match" },
      };
    }
    case "badIdempotencyKey": {
      const key = pick(["has space", "k".repeat(129), "ü"], at(40));
      return {
        request: { ...request, headers: { ...headers, "Idempotency-Key": key } },
        issue: { in: "header", name: "Idempotency-Key" },
      };
    }
  }
};

let sent = 0;
const started = performance.now();
/** How the valid requests were answered, by status: to see that they reach past validation. */
const validAnswers = new Map<number, number>();

/**
 * The answer's body; of an event stream, which does not end, what it sends up to its `caught-up`
 * signal, each event checked on the way: an id that is its envelope's position, in order.
 */
const bodyOf = async (response: Response): Promise<string> => {
  if (!response.headers.get("content-type")?.startsWith("text/event-stream")) return response.text();
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (!text.includes("event: caught-up\n")) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`the event stream ended before caught-up: ${text.slice(-300)}`);
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel();
  }
  let last = -1;
  // Events; a heartbeat may carry an `id:` and no data (no event fires for it).
  for (const frame of text.split("\n\n").filter((f) => f.startsWith("id: ") && f.includes("\ndata: "))) {
    const [, id = "", data = ""] = /^id: (\d+)\nevent: \S+\ndata: (.*)$/.exec(frame) ?? [];
    const position = (JSON.parse(data) as { position?: number }).position;
    if (position !== Number(id) || position <= last) throw new Error(`an event out of order: ${frame}`);
    last = position;
  }
  return "";
};

/** What is wrong with this answer by the document; undefined when nothing is. */
const violationOf = (endpoint: Endpoint, response: Response, text: string): string | undefined => {
  const { status } = response;
  const documented = endpoint.operation.responses[String(status)];
  // A 504 is the contract's answer to a read-your-writes wait that ran out; any other 5xx is a fault.
  if (status >= 500 && !(status === 504 && documented)) return `a ${status}: ${text}`;
  if (!documented) return `${status} is not documented`;
  for (const [name, header] of Object.entries(documented.headers ?? {})) {
    const value = response.headers.get(name);
    if (value === null) {
      if (header.required) return `no ${name} header, which the document marks required`;
    } else if (!validatorOf(header.schema)(value)) return `${name}: ${value} is not of its schema`;
  }
  const mediaType = response.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase() ?? "";
  if (!documented.content) return text === "" ? undefined : `a body where none is documented: ${text}`;
  const content = documented.content[mediaType];
  if (!content) return `content type ${mediaType}, documented: ${Object.keys(documented.content).join(", ")}`;
  if (!mediaType.endsWith("json")) return undefined;
  const body = JSON.parse(text) as unknown;
  const validate = validatorOf(content.schema);
  if (!validate(body))
    return `a body unlike its schema: ${ajv.errorsText(validate.errors)}: ${text.slice(0, 300)}`;
  remember(body, status < 300 ? response.headers.get("location") : null);
  return undefined;
};

const refusedAsInvalid = new Set([400, 401, 403, 413, 415, 431]);

/**
 * A request its schemas allow may still break a rule they cannot express (`from` before `to`): it is
 * refused with 400 only for rules the document states, in the words of the refusal. Whether a route
 * applies its rule rightly is for the route's own tests.
 */
const statedRefusal = (endpoint: Endpoint, status: number, text: string): boolean => {
  const { code, errors = [] } = JSON.parse(text) as { code?: string; errors?: { message: string }[] };
  // A refusal of the route's own (an analyst's SQL that does not parse: 400 `query_invalid`), which
  // its answer for that status names: the schema cannot say which text is SQL.
  const declared = endpoint.operation.responses[String(status)]?.description;
  if (code && !EDGE_REFUSALS.has(code) && declared?.includes(`\`${code}\``)) return true;
  if (status !== 400) return false;
  const documentText = JSON.stringify(inline(endpoint.operation));
  return errors.length > 0 && errors.every((error) => documentText.includes(error.message));
};
/** The edge's problems, which every route may give: never a rule of the route's own. */
const EDGE_REFUSALS = new Set(edgeProblemTypes.map((type) => type.code));

/** Whether a 400 names the fault it was sent with, where it is. */
const names = (text: string, issue: Issue): boolean => {
  const { errors = [] } = JSON.parse(text) as { errors?: { in: string; path: string; message: string }[] };
  return errors.some(
    (error) =>
      error.in === issue.in &&
      (error.path === issue.name || error.message.includes(issue.name)) &&
      (issue.message === undefined || error.message === issue.message),
  );
};

/** The order in which the edge reads a request's parts, stopping at the first it refuses. */
const partOrder = { path: 0, query: 1, body: 2, header: 3 } as const;

/**
 * Whether a 400 that does not name the fault was earned by the request it was made from: a rule the
 * document states, broken in a part the edge reads before the fault's (a transfer from an account to
 * itself, with a bad `Idempotency-Key`).
 */
const masked = (endpoint: Endpoint, text: string, issue: Issue): boolean => {
  const { errors = [] } = JSON.parse(text) as { errors?: { in: Issue["in"] }[] };
  return (
    statedRefusal(endpoint, 400, text) && errors.every((error) => partOrder[error.in] < partOrder[issue.in])
  );
};

const show = (request: Built) =>
  `\n  headers: ${JSON.stringify(request.headers).slice(0, 300)}\n  body: ${request.body?.slice(0, 300)}`;

/** Valid requests answered with success, per operation. */
const succeeded = new Map<string, number>();

/** Sends one request, made valid or wrong in one way, and says what is wrong with its answer. */
const sendChecked = async (
  endpoint: Endpoint,
  fault: Fault | null,
  seed: number,
  choices: readonly number[],
): Promise<number> => {
  const { method, operation } = endpoint;
  const valid = validRequest(endpoint, seed, choices);
  const { request, issue } = fault ? withFault(endpoint, valid, fault, choices) : { request: valid };
  const response = await send(method, request.target, request.headers, request.body);
  sent++;
  const { status } = response;
  const what = `${method} ${request.target} ${fault ? `(${fault})` : "(valid)"} answered ${status}`;
  const text = await bodyOf(response);
  const wrong = violationOf(endpoint, response, text);
  if (wrong) throw new Error(`${what}: ${wrong}${show(request)}`);
  if (fault) {
    if (status !== faults[fault]) throw new Error(`${what}, not ${faults[fault]}: ${text.slice(0, 300)}`);
    if (issue && !names(text, issue) && !masked(endpoint, text, issue)) {
      throw new Error(`${what}, without naming ${issue.in} ${issue.name}: ${text.slice(0, 300)}`);
    }
    return status;
  }
  validAnswers.set(status, (validAnswers.get(status) ?? 0) + 1);
  const id = operation.operationId;
  if (status < 300) succeeded.set(id, (succeeded.get(id) ?? 0) + 1);
  if (refusedAsInvalid.has(status) && !statedRefusal(endpoint, status, text)) {
    throw new Error(`${what}, refused though the document allows it: ${text.slice(0, 300)}${show(request)}`);
  }
  return status;
};

// Unbiased: fast-check's bias towards small values would make most requests alike.
const seeds = fc.noBias(fc.integer({ min: 0, max: 2 ** 30 }));
// The choices of one request, each uniform in [0, 1): which value, whether an optional part.
const choiceLists = fc.noBias(
  fc.array(
    fc.integer({ min: 0, max: 999_999 }).map((n) => n / 1_000_000),
    { minLength: 48, maxLength: 48 },
  ),
);

/** One property: `runs` generated requests to one operation, each answer checked against the document. */
const property = (endpoint: Endpoint, round: number, index: number, name: string, runs: number) =>
  fc.check(
    fc.asyncProperty(
      seeds,
      fc.option(fc.constantFrom(...faultsOf(endpoint)), { freq: 2 }),
      choiceLists,
      async (seed, fault, choices) => {
        await sendChecked(endpoint, fault, seed, choices);
      },
    ),
    // Each operation and round its own seed, so that no two send the same values (and keys).
    { seed: SEED + round * 1000 + index, numRuns: runs, ...(PATH && ONLY === name ? { path: PATH } : {}) },
  );

/**
 * For an operation none of whose valid requests succeeded in the rounds: more valid requests, each
 * checked the same way, until one does (at most 1 000). Success can be rare where it takes the right
 * state (a transfer needs a funded account of the currency of the other, both open).
 */
const succeedsAtLast = async (endpoint: Endpoint, index: number): Promise<boolean> => {
  const samples = fc.sample(fc.tuple(seeds, choiceLists), { seed: SEED + 4000 + index, numRuns: 1000 });
  for (const [seed, choices] of samples) {
    if ((await sendChecked(endpoint, null, seed, choices)) < 300) return true;
  }
  return false;
};

await seedDeadLetters(20);
// Tree sizes and positions the ledger has, for its proofs: a random whole number is past the tree.
// Not as `from` and `to`, which a transfer names accounts by: its integer parameters of those names
// take these as values that fit.
for (const n of ["1", "2", "3", "5", "8"]) for (const field of ["position", "treeSize"]) keep(field, n);
// Queries an analyst could send, for the SQL route's `query`: the schema cannot tell SQL from text.
const views = viewsDatabase(service.config.analyticsSchema);
for (const query of [
  `SELECT count() AS n FROM ${views}.events`,
  `SELECT account_id, closing_balance FROM ${views}.daily_balances ORDER BY day DESC LIMIT 5`,
  `SELECT outcome, count() AS n FROM ${views}.transfers GROUP BY outcome`,
])
  keep("query", query);

// Three rounds over the document, each with a third of the requests: a later round sends values an
// earlier one learned from answers further down the document (a projection's name, from the list of
// projections, lets a rebuild succeed, whose answer names the projection a replay of dead letters takes).
for (const round of [1, 2, 3]) {
  endpoints.forEach((endpoint, index) => {
    const { method, path, operation } = endpoint;
    const runs = Math.ceil(RUNS / 3);
    const name = `${operation.operationId} round ${round}`;
    test(`${name} (${method} ${path}): ${runs} generated requests answer as the document says`, async () => {
      const details = await property(endpoint, round, index, name, runs);
      if (details.failed) {
        throw new Error(
          `${String(details.errorInstance)}\n\nreplay: CONTRACT_SEED=${SEED} CONTRACT_PATH=${details.counterexamplePath} CONTRACT_ONLY="${name}" bun test test/contract.property.test.ts`,
        );
      }
      // A run whose valid requests all end in a refusal or "no such" has not tried what the route does.
      if (round === 3) {
        const id = operation.operationId;
        const succeeds = (succeeded.get(id) ?? 0) > 0 || (await succeedsAtLast(endpoint, index));
        expect([id, succeeds]).toEqual([id, true]);
      }
    }, 120_000);
  });
}

test("every operation of the document was driven", () => {
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const statuses = [...validAnswers].sort(([a], [b]) => a - b).map(([status, n]) => `${status}: ${n}`);
  console.info(`contract property test: ${sent} requests to ${endpoints.length} operations in ${seconds} s`);
  console.info(`  the valid ones answered ${statuses.join(", ")}`);
  const fewest = endpoints
    .map((e) => [e.operation.operationId, succeeded.get(e.operation.operationId) ?? 0] as const)
    .sort(([, a], [, b]) => a - b)
    .slice(0, 4);
  console.info(`  fewest successes: ${fewest.map(([id, n]) => `${id} ${n}`).join(", ")}`);
  expect(endpoints.length).toBeGreaterThanOrEqual(22);
  expect(sent).toBeGreaterThanOrEqual(endpoints.length * 3 * Math.ceil(RUNS / 3));
});
