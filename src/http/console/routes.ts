import { join } from "node:path";
import type { Context, Env, Hono } from "hono";
import { z } from "zod";
import { fail } from "../problem.ts";
import { NoQuery, readQuery, validate } from "../request.ts";

/**
 * The operations console: `GET /console`, a page for an operator with an admin token, and the two
 * files it loads. It holds no data: in the browser it calls the admin API (and `GET /metrics`, and
 * the streams' reads) with the operator's token, as the CLI does from a shell. The page is static,
 * so it needs no templating; its script is TypeScript in `page/`, bundled by Bun the first time it
 * is asked for. Not operations of the v1 API: outside the routes' pipeline and the OpenAPI document.
 */

const page = join(import.meta.dir, "page");

/**
 * Everything the page loads comes from this origin: no inline script or style, no frame, no plug-in,
 * and no other page may frame it (its buttons drop and replay events).
 */
export const CONSOLE_CSP =
  "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

interface Asset {
  readonly body: string;
  readonly type: string;
  readonly etag: string;
}

const asset = (body: string, type: string): Asset => ({
  body,
  type,
  etag: `"${Bun.hash(body).toString(36)}"`,
});

/** A value made on first use; made again on the next if making it failed. */
const lazily = <T>(make: () => Promise<T>): (() => Promise<T>) => {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make().catch((error: unknown) => {
      made = undefined;
      throw error;
    });
    return made;
  };
};

const script = lazily(async () => {
  const built = await Bun.build({
    entrypoints: [join(page, "main.ts")],
    target: "browser",
    format: "esm",
  });
  const output = built.outputs[0];
  if (!built.success || !output) throw new AggregateError(built.logs, "the console's script did not build");
  return asset(await output.text(), "text/javascript; charset=utf-8");
});

const files = new Map<string, () => Promise<Asset>>([
  ["console.js", script],
  [
    "console.css",
    lazily(async () => asset(await Bun.file(join(page, "console.css")).text(), "text/css; charset=utf-8")),
  ],
]);
const shell = lazily(async () =>
  asset(await Bun.file(join(page, "index.html")).text(), "text/html; charset=utf-8"),
);

const AssetParams = z.strictObject({ file: z.string().max(64) });

/** An asset, or 304 to a browser that holds this very one (the files change only with a deployment). */
const answer = (c: Context, { body, type, etag }: Asset): Response => {
  c.header("ETag", etag);
  // Asked again each time (cheaply, with its ETag), so a deployment's new page is never mixed with an old script.
  c.header("Cache-Control", "no-cache");
  if (c.req.header("if-none-match") === etag) return c.body(null, 304);
  return c.body(body, 200, { "Content-Type": type });
};

/** Serves the console on `app`: where the admin API is served (not on an edge alone, which has none). */
export const mountConsole = <E extends Env>(app: Hono<E>): void => {
  for (const path of ["/console", "/console/*"])
    app.use(path, async (c, next) => {
      // Set before the answer exists (a problem included): set after, Hono copies the whole answer.
      c.header("Content-Security-Policy", CONSOLE_CSP);
      c.header("X-Content-Type-Options", "nosniff");
      c.header("Referrer-Policy", "no-referrer");
      await next();
    });
  app.get("/console", async (c) => {
    validate(NoQuery, readQuery(c), "query");
    return answer(c, await shell());
  });
  app.get("/console/assets/:file", async (c) => {
    validate(NoQuery, readQuery(c), "query");
    const { file } = validate(AssetParams, c.req.param(), "path");
    const read = files.get(file);
    if (!read)
      return fail(
        404,
        "not_found",
        `the console has no file ${file}; it has ${[...files.keys()].join(", ")}`,
      );
    return answer(c, await read());
  });
};
