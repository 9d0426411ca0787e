import type { z } from "zod";
import { type EdgeHeader, edgeProblemsOf, ProblemBody, problemsOf, requiredHeadersOf } from "./contract.ts";
import { Components, type JsonSchema } from "./openapi-components.ts";
import { opsPaths } from "./ops-routes.ts";
import type { ProblemType } from "./problem-types.ts";
import { headerForms } from "./request.ts";
import type { HttpRoute, Tag } from "./route.ts";

/**
 * Path and query values arrive as strings and are converted: document what they become (an integer
 * with its range), and mark required only what has no default.
 */
const parameters = (
  components: Components,
  schema: z.ZodType | undefined,
  location: "path" | "query" | "header",
) => {
  if (!schema) return [];
  const output = components.add(schema, "output") as { properties?: Record<string, JsonSchema> };
  const input = components.add(schema, "input") as { required?: string[] };
  return Object.entries(output.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: location,
      required: location === "path" || (input.required ?? []).includes(name),
      ...(typeof description === "string" ? { description } : {}),
      schema: rest,
    };
  });
};

const commandHeaders = [
  {
    name: "If-Match",
    in: "header",
    required: false,
    description: 'Run only if the aggregate is at this version, e.g. "3"; otherwise 412 `version_conflict`',
    schema: { type: "string", pattern: headerForms.ifMatch.source },
  },
  {
    name: "Idempotency-Key",
    in: "header",
    required: false,
    description:
      "Sending the same key with the same request again, at any later time, returns the first answer and writes nothing new; with another request it is 422 `idempotency_key_reused`",
    schema: { type: "string", pattern: headerForms.visibleAscii.source },
  },
];

/** A response header: `required` where every answer of that status carries it, so a client may rely on it. */
const header = (description: string, required: boolean, schema: JsonSchema = { type: "string" }) => ({
  description,
  required,
  schema,
});

const correlationHeader = header("The request's correlation id, as logged", true);
const successHeaders = {
  Location: header("Where the created resource is read", true),
  ETag: header(
    'The aggregate\'s version, e.g. "3": send it as If-Match to make the next command conditional',
    true,
    { type: "string", pattern: headerForms.ifMatch.source },
  ),
};
/**
 * A success's content: JSON of its schema, or a Server-Sent Events stream whose every event's `data`
 * is of its schema (OpenAPI 3.1 has no way to say so but words: 3.2's `itemSchema` is not out yet).
 */
const successContent = (components: Components, success: HttpRoute["success"]) => {
  const schema = components.add(success.body, "output");
  if (success.contentType !== "text/event-stream") return { "application/json": { schema } };
  const named = typeof schema.$ref === "string" ? `\`${schema.$ref.split("/").at(-1)}\`` : "JSON";
  return {
    "text/event-stream": {
      schema: {
        type: "string",
        description: `Server-Sent Events (text/event-stream): each stored event is one SSE event with \`id:\` its position, \`event:\` its type and \`data:\` its ${named}; then \`event: caught-up\` once, with \`data: {"position": N}\`; comment lines keep the connection alive`,
      },
    },
  };
};

const replayedHeader = header(
  "`true` on the first answer given again for a retry with the same Idempotency-Key",
  false,
  { type: "string", enum: ["true"] },
);

const edgeHeaders: Record<EdgeHeader, ReturnType<typeof header>> = {
  "X-Correlation-Id": correlationHeader,
  "WWW-Authenticate": header('Always `Bearer realm="eventfold"`', true, {
    const: 'Bearer realm="eventfold"',
  }),
  "Retry-After": header("Seconds to wait before sending it again", true, {
    type: "string",
    pattern: "^\\d+$",
  }),
};

const problemHeaders = (status: number, command: boolean) => ({
  ...Object.fromEntries(requiredHeadersOf(status).map((name) => [name, edgeHeaders[name]])),
  ...(command && (status === 429 || status === 503)
    ? {
        Location: header("Where to follow what the command started, when it is recorded (a transfer)", false),
      }
    : {}),
  ...(command && status !== 500 ? { "Idempotent-Replayed": replayedHeader } : {}),
});

/**
 * The answer of one status that is a problem: the Problem schema with `code` narrowed to the codes
 * that status can carry, so a generated client can switch on them exhaustively.
 */
const problemResponse = (
  status: number,
  codes: readonly string[],
  types: ReadonlyMap<string, ProblemType>,
  command: boolean,
) => ({
  description: problemDescription(codes, types),
  headers: problemHeaders(status, command),
  content: {
    "application/problem+json": {
      schema: {
        allOf: [
          { $ref: "#/components/schemas/Problem" },
          { type: "object", required: ["code"], properties: { code: { type: "string", enum: codes } } },
        ],
      },
    },
  },
});

const problemDescription = (codes: readonly string[], types: ReadonlyMap<string, ProblemType>) =>
  codes
    .map((code) => {
      const type = types.get(code);
      if (!type) throw new Error(`problem code ${code} has no problem type: declare it`);
      return `\`${code}\`: ${type.description}`;
    })
    .join(" ");

export interface OpenApiParts {
  readonly routes: readonly HttpRoute[];
  readonly problemTypes: readonly ProblemType[];
}

/**
 * The OpenAPI 3.1 document, built from the very schemas the edge validates requests with and checks
 * its answers against (where `EVENTFOLD_CHECK_RESPONSES` is on).
 */
export const buildOpenApi = ({ routes, problemTypes }: OpenApiParts) => {
  const components = new Components();
  const types = new Map(problemTypes.map((t) => [t.code, t]));
  const tags = new Map<string, Tag>();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    tags.set(route.tag.name, route.tag);
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const { success } = route;
    const responses: Record<string, unknown> = {
      [success.status]: {
        description: success.description,
        headers: Object.fromEntries([
          ...(success.headers ?? []).map((name) => [name, successHeaders[name]]),
          ["X-Correlation-Id", correlationHeader],
          ...(route.command ? [["Idempotent-Replayed", replayedHeader]] : []),
        ]),
        content: successContent(components, success),
      },
    };
    for (const [status, codes] of problemsOf(route)) {
      responses[status] = problemResponse(status, codes, types, route.command === true);
    }
    paths[path] ??= {};
    paths[path][route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag.name],
      // The role the route needs, where OpenAPI 3.1 puts the roles of a scheme that is not OAuth.
      security: [{ bearer: [route.role] }],
      parameters: [
        ...parameters(components, route.params, "path"),
        ...parameters(components, route.query, "query"),
        ...parameters(components, route.headers, "header"),
        ...(route.command ? commandHeaders : []),
      ],
      ...(route.body
        ? {
            requestBody: {
              // An empty body reads as `{}`: where that is valid, the body may be left out.
              required: !route.body.safeParse({}).success,
              content: { "application/json": { schema: components.add(route.body, "input") } },
            },
          }
        : {}),
      responses,
    };
  }
  const ops = opsPaths(components);
  tags.set(ops.tag.name, ops.tag);
  // The operations' routes answer through the same edge: a correlation id on every answer, and its
  // problems for a query parameter, a head too large, a fault, or a service still starting (503).
  const edge = edgeProblemsOf({ method: "get" });
  for (const operation of Object.values(ops.paths).map((path) => path.get)) {
    for (const response of Object.values(operation.responses)) {
      response.headers = { "X-Correlation-Id": correlationHeader, ...response.headers };
    }
    for (const status of [400, 431, 500, 503]) {
      const problem = problemResponse(status, edge[status] ?? [], types, false);
      const own = operation.responses[status];
      // /readyz answers 503 with its checks; while the service starts, with the problem.
      operation.responses[status] = own
        ? {
            ...own,
            description: `${own.description}; while the service starts, ${problem.description}`,
            content: { ...own.content, ...problem.content },
          }
        : problem;
    }
  }
  components.add(ProblemBody, "output");
  return {
    openapi: "3.1.0",
    info: {
      title: "eventfold",
      version: "1.0.0",
      summary: "Event-sourced bank accounts: commands, reads, analytics and operations",
      description:
        "Every command is answered once: send it with an `Idempotency-Key` and any retry gets the first answer. Money is integer minor units. Errors are `application/problem+json`; each `code` has a page at `/problems/<code>`.",
      license: { name: "MIT", identifier: "MIT" },
    },
    servers: [{ url: "/", description: "The server that serves this document" }],
    tags: [...tags.values()],
    paths: { ...paths, ...ops.paths },
    components: {
      schemas: components.schemas,
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description:
            "An API key's token (`EVENTFOLD_API_KEYS`). Commands need the writer role, reads reader, /v1/admin admin: each operation names the least role it needs in its security requirement, and the roles are ordered reader < writer < admin (a higher one may call what a lower one may). With no keys set, auth is off.",
        },
      },
    },
  };
};
