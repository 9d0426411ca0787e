import { describe, expect, test } from "bun:test";
import { problemTypes } from "../../app/service.ts";
import { edgeProblemTypes } from "../../src/http/problem-types.ts";

/**
 * docs/api.md is the contract in words; packages/client/openapi.json the one a service with every role
 * serves (CI fails when it is stale). They must name the same routes and the same problem codes.
 */
const root = new URL("../..", import.meta.url).pathname;
const words = await Bun.file(`${root}docs/api.md`).text();
const document = (await Bun.file(`${root}packages/client/openapi.json`).json()) as {
  paths: Record<string, Record<string, unknown>>;
};

/**
 * `GET /v1/accounts/:id?minVersion=N` → `get /v1/accounts/{id}`, from every table row that is not
 * planned, nor in a section that is.
 */
const routesInWords = (): Set<string> => {
  const routes = new Set<string>();
  let plannedSection = false;
  for (const line of words.split("\n")) {
    if (line.startsWith("#")) plannedSection = /planned/.test(line);
    if (!line.startsWith("|") || plannedSection || line.startsWith("| (planned)")) continue;
    for (const [, method, path] of line.matchAll(/`(GET|POST) (\/[^`?\s[]*)/g)) {
      routes.add(`${method?.toLowerCase()} ${path?.replace(/:(\w+)/g, "{$1}")}`);
    }
  }
  return routes;
};

/**
 * Served, and in the words, but not in the document: the operations console's page and files are for a
 * browser, not operations of the API (a generated client has no use for them).
 */
const pages = ["get /console", "get /console/assets/{file}"];

describe("docs/api.md and the served document", () => {
  test("name the same routes", () => {
    const served = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method} ${path}`),
    );
    const inWords = routesInWords();
    expect(pages.filter((page) => !inWords.has(page))).toEqual([]);
    expect([...inWords].filter((route) => !pages.includes(route)).sort()).toEqual(served.sort());
  });

  test("name the same problem codes, each with the statuses the code gives it", () => {
    const types = [...edgeProblemTypes, ...problemTypes];
    const inWords = new Map<string, Set<number>>();
    for (const [, statuses, code] of words.matchAll(/^\| ([\d /]+) \| `([a-z_]+)` \|/gm)) {
      const known = inWords.get(code ?? "") ?? new Set<number>();
      for (const status of (statuses ?? "").split("/")) known.add(Number(status.trim()));
      inWords.set(code ?? "", known);
    }
    expect(Object.fromEntries([...inWords].map(([code, statuses]) => [code, [...statuses].sort()]))).toEqual(
      Object.fromEntries(types.map((t) => [t.code, [...t.statuses].sort()])),
    );
  });
});
