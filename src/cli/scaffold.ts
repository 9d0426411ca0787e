import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The names one aggregate goes by: `card`, `Card`, `cards`, its stream type and its path. */
export interface AggregateNames {
  /** Lower case letters: the aggregate's `type`, its folder, its identifiers' stem. */
  readonly name: string;
  readonly Name: string;
  /** Its collection in paths and the API's tag: `cards` → `/v1/cards`. */
  readonly plural: string;
  readonly article: "a" | "an";
}

/** Words a name cannot be: JavaScript's reserved words, and the names the templates give their own things. */
const reserved = new Set([
  ..."arguments await break case catch class const continue debugger default delete do else enum eval export extends false finally for function if implements import in instanceof interface let new null package private protected public return static super switch this throw true try typeof undefined var void while with yield".split(
    " ",
  ),
  ..."body closed command decide evolve get index module now opened post reply service spec state view".split(
    " ",
  ),
]);

/** Checks a name given on the command line; an error says what is allowed. */
export const namesOf = (name: string, plural?: string): AggregateNames => {
  if (!/^[a-z]{2,30}$/.test(name)) {
    throw new Error(`an aggregate's name is 2-30 lower case letters (a-z), not ${JSON.stringify(name)}`);
  }
  const many =
    plural ??
    (/(s|x|ch|sh)$/.test(name)
      ? `${name}es`
      : /[^aeiou]y$/.test(name)
        ? `${name.slice(0, -1)}ies`
        : `${name}s`);
  if (!/^[a-z]{2,40}$/.test(many))
    throw new Error(`the plural is lower case letters (a-z), not ${JSON.stringify(many)}`);
  for (const word of [name, many]) {
    if (reserved.has(word))
      throw new Error(`${word} is a word of JavaScript or of the files it writes: choose another`);
  }
  return {
    name,
    Name: name.charAt(0).toUpperCase() + name.slice(1),
    plural: many,
    article: /^[aeiou]/.test(name) ? "an" : "a",
  };
};

/** What the scaffold writes into `actors/<name>/`, file by file; `--help` lists them. */
export const folderFiles: readonly { readonly file: string; readonly what: string }[] = [
  { file: "commands.ts", what: "the zod schemas of its routes' bodies, and the command union" },
  { file: "events.ts", what: "the event union" },
  { file: "state.ts", what: "its state and initial state" },
  { file: "decide.ts", what: "(state, command, { now }) → events | reject(...): its rules" },
  { file: "evolve.ts", what: "(state, event) → state" },
  { file: "index.ts", what: "defineAggregate({ type, initialState, decide, evolve })" },
  { file: "problems.ts", what: "the problem types of its refusals (code, status, what it means)" },
  {
    file: "routes.ts",
    what: "defineResource: its command routes and the generic ones (current, events, state)",
  },
  { file: "module.ts", what: "what the registry takes: aggregate, routes, problem types" },
  { file: "decide.test.ts", what: "its rules, given/when/then (DeciderSpecification)" },
  { file: "e2e.test.ts", what: "its routes end to end over HTTP, in-process (serveForTest)" },
];

/** Files outside the folder the scaffold changes, and how. */
export const registryEdits: readonly { readonly file: string; readonly what: string }[] = [
  { file: "actors/index.ts", what: "its module in the registry" },
  { file: "ops/nginx.conf", what: "its path in the routing map, so one edge owns each instance" },
  {
    file: "docs/api.md",
    what: "its routes and problem codes (a test keeps docs/api.md and the routes the same)",
  },
  {
    file: "packages/client/openapi.json, packages/client/src/schema.ts, docs/errors.md",
    what: "made again from the code (npm run contract:generate)",
  },
];

const templates = ({ name, Name, plural, article }: AggregateNames): Record<string, string> => ({
  "commands.ts": `import { z } from "zod";
import { Id, printable } from "../../src/http/values.ts";

/** The bodies of its routes, checked by the edge before a command is made of them. */
export const Open${Name}Body = z.strictObject({ ${name}Id: Id.optional(), title: printable(1, 200) });
export const Rename${Name}Body = z.strictObject({ title: printable(1, 200) });

/** What ${article} ${name} decides on. */
export type ${Name}Command =
  | { readonly type: "Open${Name}"; readonly title: string }
  | { readonly type: "Rename${Name}"; readonly title: string }
  | { readonly type: "Close${Name}" }
  | { readonly type: "Reopen${Name}" };
`,
  "events.ts": `/** What happened to ${article} ${name}: its stream, the source of truth. */
export type ${Name}Event =
  | { readonly type: "${Name}Opened"; readonly title: string; readonly openedAt: string }
  | { readonly type: "${Name}Renamed"; readonly title: string }
  | { readonly type: "${Name}Closed" }
  | { readonly type: "${Name}Reopened" };
`,
  "state.ts": `export interface ${Name}State {
  readonly status: "none" | "open" | "closed";
  readonly title: string;
  /** When it was opened: the engine's clock, as its decision saw it (ISO 8601). */
  readonly openedAt: string;
}

export const initial${Name}: ${Name}State = { status: "none", title: "", openedAt: "" };
`,
  "decide.ts": `import { type DecideContext, type Decision, reject } from "../../src/aggregate.ts";
import type { ${Name}Command } from "./commands.ts";
import type { ${Name}Event } from "./events.ts";
import type { ${Name}State } from "./state.ts";

const notFound = reject("not_found", "not_found", "no such ${name}");
const closed = reject("conflict", "${name}_closed", "the ${name} is closed");

/** Its rules: pure, so the same state, command and time always give the same decision. */
export const decide = (
  state: ${Name}State,
  command: ${Name}Command,
  { now }: DecideContext,
): Decision<${Name}Event> => {
  switch (command.type) {
    case "Open${Name}":
      if (state.status !== "none") return reject("conflict", "${name}_exists", "the ${name} already exists");
      return [{ type: "${Name}Opened", title: command.title, openedAt: now.toISOString() }];
    case "Rename${Name}":
      if (state.status === "none") return notFound;
      if (state.status === "closed") return closed;
      return state.title === command.title ? [] : [{ type: "${Name}Renamed", title: command.title }];
    case "Close${Name}":
      if (state.status === "none") return notFound;
      return state.status === "closed" ? [] : [{ type: "${Name}Closed" }];
    case "Reopen${Name}":
      if (state.status === "none") return notFound;
      return state.status === "open" ? [] : [{ type: "${Name}Reopened" }];
  }
};
`,
  "evolve.ts": `import type { ${Name}Event } from "./events.ts";
import type { ${Name}State } from "./state.ts";

export const evolve = (state: ${Name}State, event: ${Name}Event): ${Name}State => {
  switch (event.type) {
    case "${Name}Opened":
      return { status: "open", title: event.title, openedAt: event.openedAt };
    case "${Name}Renamed":
      return { ...state, title: event.title };
    case "${Name}Closed":
      return { ...state, status: "closed" };
    case "${Name}Reopened":
      return { ...state, status: "open" };
  }
};
`,
  "index.ts": `import { defineAggregate } from "../../src/aggregate.ts";
import type { ${Name}Command } from "./commands.ts";
import { decide } from "./decide.ts";
import type { ${Name}Event } from "./events.ts";
import { evolve } from "./evolve.ts";
import { initial${Name}, type ${Name}State } from "./state.ts";

export const ${name} = defineAggregate<${Name}State, ${Name}Command, ${Name}Event>({
  type: "${name}",
  initialState: initial${Name},
  decide,
  evolve,
});

export type { ${Name}Command, ${Name}Event, ${Name}State };
`,
  "problems.ts": `import type { ProblemType } from "../../src/http/problem-types.ts";

/** Its refusals, as clients read them (the codes its \`decide\` rejects with). */
export const ${name}ProblemTypes: readonly ProblemType[] = [
  {
    code: "${name}_exists",
    statuses: [409],
    description: "Opening ${article} ${name} with an id that is already taken (open or closed).",
  },
  {
    code: "${name}_closed",
    statuses: [409],
    description: "A command other than a read on a closed ${name}.",
  },
];
`,
  "routes.ts": `import { z } from "zod";
import { defineResource } from "../../src/http/resource.ts";
import type { HttpRoute } from "../../src/http/route.ts";
import { Version } from "../../src/http/values.ts";
import type { Accepted } from "../../src/runtime/command.ts";
import { Open${Name}Body, Rename${Name}Body } from "./commands.ts";
import { ${name} } from "./index.ts";
import type { ${Name}State } from "./state.ts";

/** ${article === "a" ? "A" : "An"} ${name} as clients read it. */
const ${Name}View = z
  .strictObject({
    ${name}Id: z.string(),
    title: z.string(),
    status: z.enum(["open", "closed"]),
    openedAt: z.iso.datetime(),
    version: Version,
  })
  .meta({ id: "${Name}" });

const view = (${name}Id: string, state: ${Name}State, version: number): z.infer<typeof ${Name}View> => ({
  ${name}Id,
  title: state.title,
  status: state.status === "closed" ? "closed" : "open",
  openedAt: state.openedAt,
  version,
});
const reply = (o: Accepted<${Name}State>) => view(o.id, o.state, o.version);

const ${plural} = defineResource({
  aggregate: ${name},
  path: "/v1/${plural}",
  name: "${name}",
  tag: { name: "${plural}", description: "Open, rename, close, reopen; ${article} ${name}, its events and its state at any version" },
  view: ${Name}View,
  toView: view,
});

export const ${name}Routes: HttpRoute[] = [
  ${plural}.command({
    operationId: "open${Name}",
    summary: "Open ${article} ${name}",
    body: Open${Name}Body,
    idOf: (body) => body.${name}Id,
    command: ({ title }) => ({ type: "Open${Name}", title }),
    success: { description: "opened", body: ${Name}View },
    reply,
    problems: { 409: ["${name}_exists"] },
  }),
  ${plural}.command({
    action: "rename",
    operationId: "rename${Name}",
    summary: "Give ${article} ${name} another title",
    body: Rename${Name}Body,
    command: ({ title }) => ({ type: "Rename${Name}", title }),
    success: { description: "renamed (the same title again: unchanged)", body: ${Name}View },
    reply,
    problems: { 409: ["${name}_closed"] },
  }),
  ${plural}.command({
    action: "close",
    operationId: "close${Name}",
    summary: "Close ${article} ${name}",
    command: () => ({ type: "Close${Name}" }),
    success: { description: "closed (closed already: unchanged)", body: ${Name}View },
    reply,
  }),
  ${plural}.command({
    action: "reopen",
    operationId: "reopen${Name}",
    summary: "Open a closed ${name} again",
    command: () => ({ type: "Reopen${Name}" }),
    success: { description: "open again (open already: unchanged)", body: ${Name}View },
    reply,
  }),
  ${plural}.current(),
  ...${plural}.storeRoutes(),
];
`,
  "module.ts": `import type { AnyAggregate } from "../../src/aggregate.ts";
import type { DomainModule } from "../../src/http/module.ts";
import { ${name} } from "./index.ts";
import { ${name}ProblemTypes } from "./problems.ts";
import { ${name}Routes } from "./routes.ts";

export const ${name}Module: DomainModule = {
  aggregate: ${name} as AnyAggregate,
  routes: ${name}Routes,
  problemTypes: ${name}ProblemTypes,
};
`,
  "decide.test.ts": `import { describe, test } from "bun:test";
import { DeciderSpecification, specificationTime } from "../../src/testing/decider-specification.ts";
import type { ${Name}Event } from "./events.ts";
import { ${name} } from "./index.ts";

const spec = DeciderSpecification.for(${name});
const opened: ${Name}Event = { type: "${Name}Opened", title: "First", openedAt: specificationTime.toISOString() };
const closed: ${Name}Event = { type: "${Name}Closed" };

describe("opening", () => {
  test("a new id opens at the time the engine took the command; a taken one is ${name}_exists", () => {
    spec.given([]).when({ type: "Open${Name}", title: "First" }).thenEvents([opened]);
    spec
      .given([])
      .at(new Date("2027-03-31T23:59:59.000Z"))
      .when({ type: "Open${Name}", title: "First" })
      .thenEvents([{ ...opened, openedAt: "2027-03-31T23:59:59.000Z" }]);
    spec.given([opened]).when({ type: "Open${Name}", title: "Other" }).thenRejected({ code: "${name}_exists" });
  });
});

describe("renaming", () => {
  test("an open one takes the new title; the same title again changes nothing", () => {
    spec
      .given([opened])
      .when({ type: "Rename${Name}", title: "Second" })
      .thenEvents([{ type: "${Name}Renamed", title: "Second" }]);
    spec.given([opened]).when({ type: "Rename${Name}", title: "First" }).thenNothingHappened();
  });
  test("none: not_found; closed: ${name}_closed", () => {
    spec.given([]).when({ type: "Rename${Name}", title: "x" }).thenRejected({ kind: "not_found" });
    spec.given([opened, closed]).when({ type: "Rename${Name}", title: "x" }).thenRejected({ code: "${name}_closed" });
  });
});

describe("closing and opening again", () => {
  test("an open one closes, a closed one reopens; each again changes nothing; none is not_found", () => {
    spec.given([opened]).when({ type: "Close${Name}" }).thenEvents([closed]);
    spec.given([opened, closed]).when({ type: "Close${Name}" }).thenNothingHappened();
    spec.given([opened, closed]).when({ type: "Reopen${Name}" }).thenEvents([{ type: "${Name}Reopened" }]);
    spec.given([opened]).when({ type: "Reopen${Name}" }).thenNothingHappened();
    spec.given([]).when({ type: "Close${Name}" }).thenRejected({ kind: "not_found" });
    spec.given([]).when({ type: "Reopen${Name}" }).thenRejected({ kind: "not_found" });
  });
});
`,
  "e2e.test.ts": `import { afterAll, expect, test } from "bun:test";
import { serveForTest } from "../../src/http/testing.ts";
import { ${name}Module } from "./module.ts";

const now = "2026-05-01T12:00:00.000Z";
const service = serveForTest([${name}Module], { clock: () => new Date(now) });
afterAll(() => service.close());
const post = (path: string, body: unknown = {}, headers: Record<string, string> = {}) =>
  service.request("POST", \`/v1/${plural}\${path}\`, body, headers);
const get = (path: string) => service.request("GET", \`/v1/${plural}\${path}\`);

test("open, rename, close, reopen over HTTP: answers, ETag, If-Match, a retried key, events, state", async () => {
  const open = () => post("", { ${name}Id: "first", title: "First" }, { "Idempotency-Key": "open-first" });
  const opened = await open();
  expect(opened).toMatchObject({ status: 201, body: { ${name}Id: "first", version: 1, openedAt: now } });
  expect(opened.headers.get("Location")).toBe("/v1/${plural}/first");
  const retried = await open();
  expect(retried).toMatchObject({ status: 201, body: opened.body });
  expect(retried.headers.get("Idempotent-Replayed")).toBe("true");

  const rename = (version: string) => post("/first/rename", { title: "Second" }, { "If-Match": version });
  expect(await rename('"7"')).toMatchObject({ status: 412, body: { code: "version_conflict" } });
  const renamed = await rename('"1"');
  expect(renamed).toMatchObject({ status: 200, body: { title: "Second", version: 2 } });
  expect(renamed.headers.get("ETag")).toBe('"2"');
  expect(await post("/first/close")).toMatchObject({ status: 200, body: { status: "closed" } });
  expect(await post("/first/rename", { title: "Third" })).toMatchObject({ body: { code: "${name}_closed" } });

  expect(await get("/first")).toMatchObject({ status: 200, body: { status: "closed", version: 3 } });
  const second = await get("/first/state?atVersion=2");
  expect(second).toMatchObject({ status: 200, body: { title: "Second", status: "open", version: 2 } });
  const types = ((await get("/first/events")).body.events as { type: string }[]).map((e) => e.type);
  expect(types).toEqual(["${Name}Opened", "${Name}Renamed", "${Name}Closed"]);
  expect(await post("/first/reopen")).toMatchObject({ status: 200, body: { status: "open", version: 4 } });
});

test("bad input and unknown ids: problem answers, and nothing is opened", async () => {
  expect(await post("", { title: "" })).toMatchObject({ status: 400, body: { code: "validation_failed" } });
  expect(await post("/nobody/rename", { title: "x" })).toMatchObject({ status: 404 });
  expect(await get("/nobody")).toMatchObject({ status: 404, body: { code: "not_found" } });
  expect(await get("/nobody/events")).toMatchObject({ status: 404 });
});
`,
});

/** Adds the module to the registry's import list and its `modules` array. */
const register = (source: string, { name }: AggregateNames): string => {
  const list = /export const modules: readonly DomainModule\[\] = \[([^\]]*)\];/;
  const found = list.exec(source);
  if (!found)
    throw new Error("actors/index.ts has no `export const modules: readonly DomainModule[] = [...]`");
  const entries = (found[1] ?? "")
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean);
  const lastImport = source.lastIndexOf("\nimport ");
  const lineEnd = source.indexOf("\n", lastImport + 1);
  const withImport = `${source.slice(0, lineEnd + 1)}import { ${name}Module } from "./${name}/module.ts";\n${source.slice(lineEnd + 1)}`;
  return withImport.replace(
    list,
    `export const modules: readonly DomainModule[] = [${[...entries, `${name}Module`].join(", ")}];`,
  );
};

/** Adds its path to the load balancer's routing map, before the `default` line. */
const route = (source: string, { name, plural }: AggregateNames): string => {
  const defaultLine = /^(\s*)default(\s+)\$request_id;$/m;
  const found = defaultLine.exec(source);
  if (!found)
    throw new Error("ops/nginx.conf has no `default $request_id;` line in its `map $uri $aggregate`");
  const line = `${found[1]}~^/v1/${plural}/(?<id>[A-Za-z0-9_-]+) ${name}-$id;\n`;
  return source.slice(0, found.index) + line + source.slice(found.index);
};

const documented = (source: string, { name, plural, article }: AggregateNames): string =>
  `${source.trimEnd()}

## ${plural.charAt(0).toUpperCase()}${plural.slice(1)} (\`actors/${name}\`)

| route | body | success |
| --- | --- | --- |
| \`POST /v1/${plural}\` | \`{ "${name}Id"?, "title": string 1-200 }\` | 201, \`Location\`, \`{ ${name}Id, title, status, openedAt, version }\` |
| \`POST /v1/${plural}/:id/rename\` | \`{ "title" }\` | 200, the ${name} |
| \`POST /v1/${plural}/:id/close\` | \`{}\` | 200, the ${name} |
| \`POST /v1/${plural}/:id/reopen\` | \`{}\` | 200, the ${name} |
| \`GET /v1/${plural}/:id\` | | 200, the ${name} as its actor holds it |
| \`GET /v1/${plural}/:id/events?after=0&limit=100\` | | \`{ events: [envelope...], next }\` in version order |
| \`GET /v1/${plural}/:id/state[?atVersion=N]\` | | the ${name} as it was right after event N |

| status | code | when |
| --- | --- | --- |
| 409 | \`${name}_exists\` | opening ${article} ${name} with an id that is taken |
| 409 | \`${name}_closed\` | a command other than a read on a closed ${name} |
`;

/**
 * Writes `actors/<name>/` and registers it; `say` is told each step. The folder must not exist. What it
 * writes compiles, lints and passes its tests as it is: the place to start changing it.
 */
export const scaffoldAggregate = (
  root: string,
  names: AggregateNames,
  say: (line: string) => void,
): { written: string[]; undo: () => void } => {
  const folder = join(root, "actors", names.name);
  if (existsSync(folder)) throw new Error(`actors/${names.name} exists already`);
  const registry = readFileSync(join(root, "actors/index.ts"), "utf8");
  if (registry.includes(`./${names.name}/`)) throw new Error(`actors/index.ts names ${names.name} already`);
  // The paths the service serves now: a route of the new aggregate must not shadow one, nor sit under one.
  const served = Object.keys(
    (JSON.parse(readFileSync(join(root, "packages/client/openapi.json"), "utf8")) as { paths: object }).paths,
  );
  const taken = served.find(
    (path) => path === `/v1/${names.plural}` || path.startsWith(`/v1/${names.plural}/`),
  );
  if (taken) throw new Error(`${taken} is served already: choose another name, or --plural`);
  const edited = [
    { file: "actors/index.ts", edit: register },
    { file: "ops/nginx.conf", edit: route },
    { file: "docs/api.md", edit: documented },
  ].map(({ file, edit }) => {
    const before = readFileSync(join(root, file), "utf8");
    return { file, before, text: edit(before, names) };
  });
  /** Puts everything back as it was: for a step after this one that fails. */
  const undo = () => {
    rmSync(folder, { recursive: true, force: true });
    for (const { file, before } of edited) writeFileSync(join(root, file), before);
  };
  mkdirSync(folder, { recursive: true });
  const written: string[] = [];
  for (const [file, text] of Object.entries(templates(names))) {
    writeFileSync(join(folder, file), text);
    written.push(`actors/${names.name}/${file}`);
    say(`wrote actors/${names.name}/${file}`);
  }
  for (const { file, text } of edited) {
    writeFileSync(join(root, file), text);
    written.push(file);
    say(`changed ${file}`);
  }
  return { written, undo };
};
