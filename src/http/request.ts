import type { Context } from "hono";
import { z } from "zod";
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

/**
 * The forms of the headers the edge reads, for the parsers below and the OpenAPI document alike:
 * `If-Match: "<version>"` (a strong entity tag holding the aggregate version), and the 1-128 visible
 * ASCII characters of an `Idempotency-Key` or an `X-Correlation-Id`.
 */
export const headerForms = {
  ifMatch: /^\s*"(\d{1,15})"\s*$/,
  visibleAscii: /^[\x21-\x7e]{1,128}$/,
} as const;

/** `If-Match: "<version>"`. */
export const parseIfMatch = (header: string | undefined): number | undefined => {
  if (header === undefined) return undefined;
  const match = headerForms.ifMatch.exec(header);
  if (!match) return badHeader("If-Match", 'expected a version in double quotes, e.g. "3"');
  return Number(match[1]);
};

/** `Idempotency-Key: <1-128 visible ASCII characters>`. */
export const parseIdempotencyKey = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined;
  if (!headerForms.visibleAscii.test(header))
    return badHeader("Idempotency-Key", "1-128 visible ASCII characters");
  return header;
};

/**
 * `application/json`, with no parameter but a UTF-8 `charset`: JSON is UTF-8 (RFC 8259). Its relatives
 * (`application/merge-patch+json`, `application/json-patch+json`) mean other operations than the
 * route's, so they are refused with the rest.
 */
const isJson = (contentType: string | undefined): boolean =>
  contentType !== undefined &&
  /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i.test(contentType.trim());

/** The query of a route that takes no parameter. */
export const NoQuery = z.strictObject({});

/**
 * The query parameters as one value each. A parameter given twice is refused by name: `?limit=1&limit=3`
 * has no one meaning, and taking the first would answer a question the client may not have asked.
 */
export const readQuery = (c: Context): Record<string, string> => {
  const all = c.req.queries();
  const twice = Object.keys(all).filter((name) => (all[name]?.length ?? 0) > 1);
  if (twice.length > 0) {
    fail(
      400,
      "validation_failed",
      `the query gives ${twice.join(", ")} more than once`,
      twice.map((name) => ({ in: "query", path: name, message: "given more than once: give it once" })),
    );
  }
  return Object.fromEntries(Object.entries(all).map(([name, values]) => [name, values[0] ?? ""]));
};

/** The largest request head the edge reads: its request line and header fields, in bytes. */
export const MAX_HEAD_BYTES = 16 * 1024;

/**
 * The HTTP server's own limit on a request head, which Bun answers with a bare 431 before the edge
 * sees the request (its default is 16 KiB): above the edge's, so that the edge answers as a problem.
 */
export const SERVER_HEAD_BYTES = 4 * MAX_HEAD_BYTES;

/** The HTTP server's own limit on a body, above the edge's likewise: Bun's 413 has no body. */
export const serverBodyBytes = (maxBodyBytes: number): number => Math.max(1024 * 1024, 4 * maxBodyBytes);

/**
 * The size of the request's head as it came on the wire (HTTP/1.1): the request line, each field as
 * `name: value` and the line ends. Header values are bytes (ISO-8859-1), one per character.
 */
export const headBytes = (request: Request): number => {
  const { url } = request;
  const target = url.length - url.indexOf("/", url.indexOf("//") + 2);
  let size = request.method.length + target + " HTTP/1.1\r\n".length + 3;
  request.headers.forEach((value, name) => {
    size += name.length + value.length + 4;
  });
  return size;
};

/**
 * The first key an object of this (valid) JSON text names twice, with its path; JSON.parse keeps
 * the last silently, so `{"amount":-1,"amount":5}` would pass as 5. A scan of the text: strings are
 * decoded as JSON does, and each object's keys are kept while it is open.
 */
export const duplicateKey = (text: string): string | undefined => {
  type Open = { keys: Set<string> | undefined; expectKey: boolean; path: string };
  const open: Open[] = [];
  // What follows a key: its colon and, if the value is an object or an array, its opening bracket.
  const afterKey = /\s*:\s*([[{])?/y;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    const top = open.at(-1);
    if (char === "{") open.push({ keys: new Set(), expectKey: true, path: top?.path ?? "" });
    else if (char === "[") open.push({ keys: undefined, expectKey: false, path: top?.path ?? "" });
    else if (char === "}" || char === "]") open.pop();
    else if (char === "," && top?.keys) top.expectKey = true;
    else if (char === '"') {
      const start = i;
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      i = end;
      if (!top?.keys || !top.expectKey) continue;
      const key = JSON.parse(text.slice(start, end + 1)) as string;
      const path = top.path ? `${top.path}.${key}` : key;
      if (top.keys.has(key)) return path;
      top.keys.add(key);
      top.expectKey = false;
      afterKey.lastIndex = end + 1;
      const opening = afterKey.exec(text)?.[1];
      if (opening) {
        // The value opens a container under this key's path.
        open.push({ keys: opening === "{" ? new Set() : undefined, expectKey: opening === "{", path });
        i = afterKey.lastIndex - 1;
      }
    }
  }
  return undefined;
};

/**
 * Reads a JSON body. No body at all counts as `{}` (so `POST …/close` needs none); a body in any other
 * media type is 415, one that does not parse is 400. Size is enforced before this by the body limit.
 * A route that takes no body reads it as `{}` too, and refuses any field in it.
 */
export const readJsonBody = async (c: Context): Promise<unknown> => {
  const text = await c.req.text();
  if (text.length === 0) return {};
  if (!isJson(c.req.header("content-type"))) {
    return fail(415, "unsupported_media_type", "send the body as application/json (UTF-8)");
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return fail(400, "validation_failed", "the body is not valid JSON", [
      { in: "body", path: "(body)", message: "not valid JSON" },
    ]);
  }
  const twice = duplicateKey(text);
  if (twice !== undefined) {
    fail(400, "validation_failed", "the body names a key twice", [
      {
        in: "body",
        path: twice,
        message: "this key is given twice; JSON that means one value gives it once",
      },
    ]);
  }
  return body;
};
