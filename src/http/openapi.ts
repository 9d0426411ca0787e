import { z } from "zod";
import type { HttpRoute } from "./route.ts";

type JsonSchema = Record<string, unknown> & { properties?: Record<string, unknown>; required?: string[] };

const jsonSchema = (schema: z.ZodType, io: "input" | "output"): JsonSchema => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as JsonSchema;
  return rest;
};

const parameters = (schema: z.ZodType | undefined, location: "path" | "query") => {
  if (!schema) return [];
  // Path and query values arrive as strings and are coerced, so document what they become.
  const { properties = {}, required = [] } = jsonSchema(schema, "output");
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: location,
    required: location === "path" || required.includes(name),
    schema: property,
  }));
};

const commandHeaders = [
  {
    name: "If-Match",
    in: "header",
    required: false,
    description: 'Run only if the aggregate is at this version, e.g. "3"; otherwise 412',
    schema: { type: "string", pattern: '^"\\d+"$' },
  },
  {
    name: "Idempotency-Key",
    in: "header",
    required: false,
    description: "Retrying with the same key and body returns the first answer and writes nothing new",
    schema: { type: "string", pattern: "^[\\x21-\\x7e]{1,128}$" },
  },
];

const problemSchema = {
  type: "object",
  required: ["type", "title", "status", "detail", "code"],
  properties: {
    type: { type: "string" },
    title: { type: "string" },
    status: { type: "integer" },
    detail: { type: "string" },
    code: { type: "string" },
    errors: {
      type: "array",
      items: {
        type: "object",
        properties: { in: { type: "string" }, path: { type: "string" }, message: { type: "string" } },
      },
    },
  },
};

/** The OpenAPI 3.1 document, built from the very schemas the edge validates with. */
export const buildOpenApi = (routes: readonly HttpRoute[]) => {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const responses = Object.fromEntries(
      Object.entries(route.responses).map(([status, description]) => [
        status,
        Number(status) < 400
          ? { description, content: { "application/json": { schema: { type: "object" } } } }
          : {
              description,
              content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
            },
      ]),
    );
    paths[path] ??= {};
    paths[path][route.method] = {
      summary: route.summary,
      tags: [route.tag],
      security: [{ bearer: [] }],
      parameters: [
        ...parameters(route.params, "path"),
        ...parameters(route.query, "query"),
        ...(route.command ? commandHeaders : []),
      ],
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { "application/json": { schema: jsonSchema(route.body, "input") } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "eventfold",
      version: "1",
      description: "Event-sourced bank accounts: commands, reads, analytics and operations.",
    },
    paths,
    components: {
      schemas: { Problem: problemSchema },
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    },
  };
};
