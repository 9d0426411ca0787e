import type { Context } from "hono";
import type { z } from "zod";
import { fail, type ValidationIssue } from "./problem.ts";

/** Validates one part of a request; every issue is reported, in the field-by-field `errors` list. */
export const validate = <T>(schema: z.ZodType<T>, value: unknown, where: ValidationIssue["in"]): T => {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors = result.error.issues.map((issue) => ({
    in: where,
    path: issue.path.map(String).join(".") || (where === "body" ? "(body)" : "(root)"),
    message: issue.message,
  }));
  return fail(400, "validation_failed", `the request ${where} is not valid`, errors);
};

const badHeader = (name: string, message: string): never =>
  fail(400, "validation_failed", `the ${name} header is not valid`, [{ in: "header", path: name, message }]);

/** `If-Match: "<version>"`, a strong entity tag holding the aggregate version. */
export const parseIfMatch = (header: string | undefined): number | undefined => {
  if (header === undefined) return undefined;
  const match = /^\s*"(\d{1,15})"\s*$/.exec(header);
  if (!match) return badHeader("If-Match", 'expected a version in double quotes, e.g. "3"');
  return Number(match[1]);
};

/** `Idempotency-Key: <1-128 visible ASCII characters>`. */
export const parseIdempotencyKey = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,128}$/.test(header))
    return badHeader("Idempotency-Key", "1-128 visible ASCII characters");
  return header;
};

const isJson = (contentType: string | undefined): boolean =>
  contentType !== undefined && /^application\/(?:[\w.+-]+\+)?json\s*(?:;.*)?$/i.test(contentType.trim());

/**
 * Reads a JSON body. No body at all counts as `{}` (so `POST …/close` needs none); a body in any other
 * media type is 415, one that does not parse is 400. Size is enforced before this by the body limit.
 */
export const readJsonBody = async (c: Context): Promise<unknown> => {
  const text = await c.req.text();
  if (text.length === 0) return {};
  if (!isJson(c.req.header("content-type"))) {
    return fail(415, "unsupported_media_type", "send the body as application/json");
  }
  try {
    return JSON.parse(text);
  } catch {
    return fail(400, "validation_failed", "the body is not valid JSON", [
      { in: "body", path: "(body)", message: "not valid JSON" },
    ]);
  }
};
