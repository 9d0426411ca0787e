import { z } from "zod";

export type JsonSchema = Record<string, unknown>;

/**
 * The OpenAPI document's shared schemas. Schemas with an `id` (zod's `.meta({ id })`) become
 * components, shared by reference; zod puts them in `$defs` of each schema it converts, so they are
 * lifted out and their references rewritten. A module of its own: the document (openapi.ts) and the
 * operations' routes (ops-routes.ts), which describe their answers with it, each import it and not
 * each other.
 */
export class Components {
  readonly schemas: Record<string, JsonSchema> = {};

  add(schema: z.ZodType, io: "input" | "output"): JsonSchema {
    const converted = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as JsonSchema;
    const { $schema: _, $defs, ...rest } = converted;
    for (const [id, definition] of Object.entries((($defs as JsonSchema | undefined) ?? {}) as JsonSchema)) {
      const relinked = this.relink(definition) as JsonSchema;
      // One id, one schema: a request's and an answer's reading of it (defaults, transforms) must agree.
      const known = this.schemas[id];
      if (known && JSON.stringify(known) !== JSON.stringify(relinked)) {
        throw new Error(`schema ${id} reads differently as input and as output: give each its own id`);
      }
      this.schemas[id] = relinked;
    }
    return this.relink(rest) as JsonSchema;
  }

  private relink(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.relink(v));
    if (value === null || typeof value !== "object") return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, v]) =>
        key === "$ref" && typeof v === "string"
          ? [key, v.replace("#/$defs/", "#/components/schemas/")]
          : [key, this.relink(v)],
      ),
    );
  }
}
