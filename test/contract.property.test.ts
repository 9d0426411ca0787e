/**
 * Generated requests against the served OpenAPI document: for every operation it lists, valid requests
 * made from its own schemas (json-schema-faker) and invalid ones (each a known way to be wrong), sent
 * in process to the whole service with the role the operation names, and every answer checked against
 * the document (Ajv): a documented status and content type, a body of the documented schema, the
 * headers it marks required, never a 5xx. A valid request is never refused as invalid; an invalid one
 * gets the status its fault calls for.
 *
 *   CONTRACT_RUNS=2000 bun test test/contract.property.test.ts      more requests per operation
 *   CONTRACT_SEED=<seed> [CONTRACT_PATH=<path>] bun test …          replay a failure fast-check reported
 */
import { afterAll, expect, test } from "bun:test";
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import fc from "fast-check";
import { generateSync } from "json-schema-faker";
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
console.info(
  `contract property test: seed ${SEED}, ${RUNS} requests per operation (replay: CONTRACT_SEED=${SEED})`,
);

const tokens = { reader: "reader-token", writer: "writer-token", admin: "admin-token" } as const;
type Role = keyof typeof tokens;
const service = await startTestService({
  apiKeys: (Object.keys(tokens) as Role[]).map((role) => ({ name: role, role, token: tokens[role] })),
  checkResponses: true,
  // A read with minVersion past the read model waits this long for it: the wait is not under test.
  readYourWritesMs: 20,
});
afterAll(() => service.dispose());

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
/** Ids the service answered with: an id-shaped value is drawn from them half of the time. */
const knownIds: string[] = [];
const remember = (body: unknown, location: string | null) => {
  if (location) knownIds.push(location.split("/").at(-1) ?? "");
  if (body && typeof body === "object" && !Array.isArray(body)) {
    for (const [key, value] of Object.entries(body)) {
      if (key.endsWith("Id") && typeof value === "string") knownIds.push(value);
    }
  }
  if (knownIds.length > 500) knownIds.splice(0, knownIds.length - 500);
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

const pick = <T>(values: readonly T[], r: number): T => values[Math.floor(r * values.length)] as T;

interface Built {
  target: string;
  headers: Record<string, string>;
  body?: string;
}

/** A request the document allows, its values from the schemas and the ids the service gave. */
const validRequest = (endpoint: Endpoint, seed: number, r: readonly number[]): Built => {
  let path = endpoint.path;
  const query: [string, string][] = [];
  const headers: Record<string, string> = {};
  endpoint.params.forEach((param, i) => {
    const idShaped = (inline(param.schema) as Schema).pattern === ID_PATTERN;
    const fromService = idShaped && knownIds.length > 0 && (r[i] ?? 0) < 0.5;
    const value = String(fromService ? pick(knownIds, r[i + 8] ?? 0) : fake(param.schema, seed + i));
    if (param.in === "path") path = path.replace(`{${param.name}}`, encodeURIComponent(value));
    else if (param.in === "query" && (param.required || (r[i + 16] ?? 0) < 0.5))
      query.push([param.name, value]);
    // A header value cannot hold a line end (the generator may make one of `\s`).
    else if (param.in === "header" && (r[i + 16] ?? 0) < 0.3 && /^[\x20-\x7e]*$/.test(value))
      headers[param.name] = value;
  });
  if (endpoint.role) headers.Authorization = `Bearer ${tokens[endpoint.role]}`;
  let body: string | undefined;
  if (endpoint.body && (endpoint.operation.requestBody?.required || (r[31] ?? 0) < 0.7)) {
    const value = fake(endpoint.body, seed) as Record<string, unknown>;
    Object.entries(propertiesOf(endpoint.body)).forEach(([name, property], i) => {
      if (name in value && property.pattern === ID_PATTERN && knownIds.length > 0 && (r[24 + i] ?? 0) < 0.5)
        value[name] = pick(knownIds, r[20 + i] ?? 0);
    });
    body = JSON.stringify(value);
    headers["Content-Type"] = "application/json";
  }
  const search = new URLSearchParams(query).toString();
  return { target: search ? `${path}?${search}` : path, headers, body };
};

/** The same request, wrong in one way. */
const withFault = (endpoint: Endpoint, request: Built, fault: Fault, r: readonly number[]): Built => {
  const { target, headers } = request;
  const [path, search = ""] = target.split("?");
  const query = new URLSearchParams(search);
  const bodyValue = (): Record<string, unknown> =>
    request.body
      ? JSON.parse(request.body)
      : (fake(endpoint.body ?? { type: "object" }, 7) as Record<string, unknown>);
  const jsonBody = (value: unknown) => ({
    ...request,
    headers: { ...headers, "Content-Type": "application/json" },
    body: JSON.stringify(value),
  });
  switch (fault) {
    case "noToken": {
      const { Authorization: _, ...rest } = headers;
      return { ...request, headers: rest };
    }
    case "roleTooLow":
      return {
        ...request,
        headers: { ...headers, Authorization: `Bearer ${tokens[lowerRole[endpoint.role as Role] as Role]}` },
      };
    case "unknownQuery":
      query.append("notAParameter", "1");
      return { ...request, target: `${path}?${query}` };
    case "duplicatedQuery": {
      const param = endpoint.params.filter((p) => p.in === "query").at(0);
      const name = param?.name ?? "notAParameter";
      const value = query.get(name) ?? (param ? String(fake(param.schema, 3)) : "1");
      query.delete(name);
      query.append(name, value);
      query.append(name, value);
      return { ...request, target: `${path}?${query}` };
    }
    case "queryOutOfSchema": {
      const params = endpoint.params.filter((p) => p.in === "query" && outOfSchema(p.schema).length > 0);
      const param = pick(params, r[0] ?? 0);
      query.set(param.name, String(pick(outOfSchema(param.schema), r[1] ?? 0)));
      return { ...request, target: `${path}?${query}` };
    }
    case "pathOutOfSchema": {
      const param = endpoint.params.find(
        (p) => p.in === "path" && outOfSchema(p.schema).length > 0,
      ) as Parameter;
      const value = encodeURIComponent(String(pick(outOfSchema(param.schema), r[1] ?? 0)));
      const segments = endpoint.path.split("/");
      const index = segments.indexOf(`{${param.name}}`);
      const actual = (path ?? "").split("/");
      actual[index] = value;
      return { ...request, target: `${actual.join("/")}${search ? `?${search}` : ""}` };
    }
    case "wrongContentType":
      return {
        ...request,
        headers: {
          ...headers,
          "Content-Type": pick(
            [
              "text/plain",
              "application/merge-patch+json",
              "application/json-patch+json",
              "application/xml",
              "application/x-www-form-urlencoded",
            ],
            r[0] ?? 0,
          ),
        },
        body: request.body ?? "{}",
      };
    case "bodyNotJson":
      return {
        ...request,
        headers: { ...headers, "Content-Type": "application/json" },
        body: pick(["{", "nope", "{'a':1}", "[1,"], r[0] ?? 0),
      };
    case "bodyMissingField": {
      const value = bodyValue();
      delete value[pick(requiredOf(endpoint.body), r[0] ?? 0)];
      return jsonBody(value);
    }
    case "bodyExtraField":
      return jsonBody({ ...(endpoint.body ? bodyValue() : {}), notAField: 1 });
    case "bodyWrongType": {
      const value = bodyValue();
      const [name, property] = pick(Object.entries(propertiesOf(endpoint.body)), r[0] ?? 0);
      value[name] =
        property.type === "string"
          ? pick([5, true, null, ["a"]], r[1] ?? 0)
          : pick(["5", true, null, {}], r[1] ?? 0);
      return jsonBody(value);
    }
    case "bodyOutOfRange": {
      const value = bodyValue();
      const candidates = Object.entries(propertiesOf(endpoint.body)).filter(
        ([, p]) => outOfSchema(p).length > 0,
      );
      const [name, property] = pick(candidates, r[0] ?? 0);
      value[name] = pick(outOfSchema(property), r[1] ?? 0);
      return jsonBody(value);
    }
    case "bodyDuplicateKey": {
      const value = bodyValue();
      const [name] = pick(Object.entries(propertiesOf(endpoint.body)), r[0] ?? 0);
      const text = JSON.stringify(value);
      const twice = `{${JSON.stringify(name)}:${JSON.stringify(value[name] ?? 1)},${text.slice(1)}`;
      return {
        ...jsonBody(value),
        body: name in value ? twice : `{${JSON.stringify(name)}:1,${JSON.stringify(name)}:1}`,
      };
    }
    case "oversizedHead":
      return { ...request, headers: { ...headers, "X-Padding": "p".repeat(17 * 1024) } };
    case "badIfMatch":
      return { ...request, headers: { ...headers, "If-Match": pick(["3", 'W/"3"', '"x"', "*"], r[0] ?? 0) } };
    case "badIdempotencyKey":
      return {
        ...request,
        headers: { ...headers, "Idempotency-Key": pick(["has space", "k".repeat(129), "ü"], r[0] ?? 0) },
      };
  }
};

let sent = 0;
const started = performance.now();
/** How the valid requests were answered, by status: to see that they reach past validation. */
const validAnswers = new Map<number, number>();

/** What is wrong with this answer by the document; undefined when nothing is. */
const problemsWith = (endpoint: Endpoint, response: Response, text: string): string | undefined => {
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
  const content = documented.content?.[mediaType];
  if (!documented.content) return text === "" ? undefined : `a body where none is documented: ${text}`;
  if (!content) return `content type ${mediaType}, documented: ${Object.keys(documented.content).join(", ")}`;
  if (!mediaType.endsWith("json")) return undefined;
  const body = JSON.parse(text) as unknown;
  const validate = validatorOf(content.schema);
  if (!validate(body))
    return `a body unlike its schema: ${ajv.errorsText(validate.errors)}: ${text.slice(0, 300)}`;
  if (status < 300) remember(body, response.headers.get("location"));
  return undefined;
};

const refusedAsInvalid = new Set([400, 401, 403, 413, 415, 431]);

/**
 * A request its schemas allow may still break a rule they cannot express (`from` before `to`): it is
 * refused with 400 only for rules the document states, in the words of the refusal.
 */
const statedRefusal = (endpoint: Endpoint, status: number, text: string): boolean => {
  if (status !== 400) return false;
  const { errors = [] } = JSON.parse(text) as { errors?: { message: string }[] };
  const documentText = JSON.stringify(inline(endpoint.operation));
  return errors.length > 0 && errors.every((error) => documentText.includes(error.message));
};

endpoints.forEach((endpoint, index) => {
  const { method, path, operation } = endpoint;
  const applicable = faultsOf(endpoint);
  test(`${operation.operationId} (${method} ${path}): ${RUNS} generated requests answer as the document says`, async () => {
    const details = await fc.check(
      fc.asyncProperty(
        // Unbiased: fast-check's bias towards small values would make most requests alike.
        fc.noBias(fc.integer({ min: 0, max: 2 ** 30 })),
        fc.option(fc.constantFrom(...applicable), { freq: 2 }),
        // The choices of one request, each uniform in [0, 1): which value, whether an optional part.
        fc.noBias(
          fc.array(
            fc.integer({ min: 0, max: 999_999 }).map((n) => n / 1_000_000),
            { minLength: 32, maxLength: 32 },
          ),
        ),
        async (seed, fault, r) => {
          const valid = validRequest(endpoint, seed, r);
          const request = fault ? withFault(endpoint, valid, fault, r) : valid;
          const response = await send(method, request.target, request.headers, request.body);
          sent++;
          if (!fault) validAnswers.set(response.status, (validAnswers.get(response.status) ?? 0) + 1);
          const what = `${method} ${request.target} ${fault ? `(${fault})` : "(valid)"} answered ${response.status}`;
          const text = await response.text();
          const wrong = problemsWith(endpoint, response, text);
          if (wrong)
            throw new Error(
              `${what}: ${wrong}\n  headers: ${JSON.stringify(request.headers).slice(0, 300)}\n  body: ${request.body?.slice(0, 300)}`,
            );
          if (fault && response.status !== faults[fault]) {
            throw new Error(`${what}, not ${faults[fault]}: ${text.slice(0, 300)}`);
          }
          if (
            !fault &&
            refusedAsInvalid.has(response.status) &&
            !statedRefusal(endpoint, response.status, text)
          ) {
            throw new Error(
              `${what}, refused as invalid though the document allows it: ${text.slice(0, 300)}\n  body: ${request.body?.slice(0, 300)}`,
            );
          }
        },
      ),
      // Each operation its own seed, so that two operations do not send the same values (and keys).
      { seed: SEED + index, numRuns: RUNS, ...(PATH ? { path: PATH } : {}) },
    );
    if (details.failed) {
      throw new Error(
        `${String(details.errorInstance)}\n\nreplay: CONTRACT_SEED=${SEED} CONTRACT_PATH=${details.counterexamplePath} bun test test/contract.property.test.ts -t ${operation.operationId}`,
      );
    }
  }, 120_000);
});

test("every operation of the document was driven", () => {
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const statuses = [...validAnswers].sort(([a], [b]) => a - b).map(([status, n]) => `${status}: ${n}`);
  console.info(`contract property test: ${sent} requests to ${endpoints.length} operations in ${seconds} s`);
  console.info(`  the valid ones answered ${statuses.join(", ")}`);
  expect(endpoints.length).toBeGreaterThanOrEqual(22);
  expect(sent).toBeGreaterThanOrEqual(endpoints.length * RUNS);
});
