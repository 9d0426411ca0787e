import type { ClickHouseClient } from "@clickhouse/client";
import { queryRows } from "./clickhouse.ts";

/** The bounds of one analyst's query; each is a ClickHouse setting (src/config.ts). */
export interface SqlLimits {
  readonly timeoutMs: number;
  readonly maxMemoryBytes: number;
  readonly maxRowsToRead: number;
  /** Rows in an answer; past it, the first rows and `truncated`. */
  readonly maxResultRows: number;
  /** Bytes of an answer, as ClickHouse counts its blocks; past it, `limit`. */
  readonly maxResultBytes: number;
  readonly maxThreads: number;
  /** Queries running at once; one more is refused as `busy`. */
  readonly concurrency: number;
}

export type SqlParams = Readonly<Record<string, unknown>>;

export interface SqlAnswer {
  readonly columns: { name: string; type: string }[];
  readonly rows: unknown[][];
  readonly rowsRead: number;
  readonly elapsedMs: number;
  readonly truncated: boolean;
}

/**
 * Why a query got no answer: `invalid`, it does not parse or names what does not exist; `not_allowed`,
 * it is not one read of the documented tables; `limit`, it went past a bound; `busy`, the queries
 * allowed at once are running; `unavailable`, ClickHouse did not answer.
 */
export type SqlRefusal = "invalid" | "not_allowed" | "limit" | "busy" | "unavailable";

export class SqlQueryError extends Error {
  constructor(
    readonly refusal: SqlRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** ClickHouse's error names for a query past a bound. */
const LIMITS = new Set([
  "TIMEOUT_EXCEEDED",
  "MEMORY_LIMIT_EXCEEDED",
  "TOO_MANY_ROWS",
  "TOO_MANY_BYTES",
  "TOO_MANY_ROWS_OR_BYTES",
  "TOO_SLOW",
  "TOO_MANY_RESULT_ROWS",
  "TOO_MANY_RESULT_BYTES",
  "QUERY_WAS_CANCELLED",
]);
/** And for one that the read-only rules or the grants refuse. */
const REFUSALS = new Set([
  "READONLY",
  "ACCESS_DENIED",
  "NOT_ENOUGH_PRIVILEGES",
  "FUNCTION_NOT_ALLOWED",
  "QUERY_IS_PROHIBITED",
  "SUPPORT_IS_DISABLED",
]);
/**
 * And for one the service itself cannot run: a server that refuses its analyst user, or caps that
 * user's settings below the service's bounds (an analyst's query sets none).
 */
const MISCONFIGURED = new Set([
  "AUTHENTICATION_FAILED",
  "REQUIRED_PASSWORD",
  "UNKNOWN_USER",
  "SETTING_CONSTRAINT_VIOLATION",
]);

/**
 * Functions that reach outside the query's tables: files, other tables by name, the server's setup.
 * `readonly=1` stops table functions, not these; a server's grants stop most of them, chDB has none.
 */
const OUTSIDE = new Set([
  "file",
  "joinGet",
  "joinGetOrNull",
  "getServerSetting",
  "getMergeTreeSetting",
  "getMacro",
  "showCertificate",
  "filesystemAvailable",
  "filesystemCapacity",
  "filesystemUnreserved",
  "catboostEvaluate",
  "naiveBayesClassifier",
  "naiveBayesClassifierWithProb",
  "naiveBayesClassifierWithAllProbs",
  "getClientHTTPHeader",
  // The columns of any table, by name.
  "hasColumnInTable",
  // Facts about the host the service runs on.
  "hostName",
  "FQDN",
  "getOSKernelVersion",
  "uptime",
  "tcpPort",
]);

/**
 * Functions whose cost grows with the square of their input. ClickHouse checks the time bound between
 * blocks, so one call over a long string or array runs on past it; embedded, chDB runs one query at a
 * time, and the projection would wait for it.
 */
const SLOW = new Set([
  "editDistance",
  "editDistanceUTF8",
  "levenshteinDistance",
  "levenshteinDistanceUTF8",
  "damerauLevenshteinDistance",
  "arrayLevenshteinDistance",
  "arrayLevenshteinDistanceWeighted",
  "arraySimilarity",
  "jaroSimilarity",
  "jaroWinklerSimilarity",
]);

/** `x IN db.table` in each spelling, `*IgnoreSet` too: each reads the table named on its right. */
const IN_FUNCTION = /^(global)?(not)?(null)?in(IgnoreSet)?$/i;

/** A ClickHouse error as both clients raise it (chDB's carries its own copy of the class). */
const clickHouseError = (error: unknown): { code: string; type: string; message: string } | undefined => {
  if (!(error instanceof Error)) return undefined;
  const { code, type } = error as Error & { code?: unknown; type?: unknown };
  if (typeof code !== "string" || !/^\d+$/.test(code)) return undefined;
  return { code, type: typeof type === "string" ? type : "", message: error.message };
};

/**
 * ClickHouse's message for the analyst: its first line, without the scope (which shows the service's
 * wrapping of the query), stack traces or file paths.
 */
export const cleanMessage = (message: string): string =>
  (message.split("\n")[0] ?? "")
    .replace(/\s*:?\s*In scope [\s\S]*$/, "")
    .replace(/\s*Stack trace[\s\S]*$/, "")
    .replace(/(?:\/[\w.@+-]+){2,}\/?/g, "<path>")
    .replace(/\s*\((?:[A-Z_]+)\)\s*$/, "")
    .trim();

interface Node {
  readonly label: string;
  /** How many children ClickHouse says the node has. */
  readonly declared: number;
  readonly children: Node[];
}

/**
 * `EXPLAIN AST`'s lines (one node each, indented one space per level) as a tree, or undefined if they
 * are not one well-formed tree. ClickHouse prints names as they are, so a name with a line break
 * in it adds lines of the query's choosing: whatever they say, they break the tree's shape (a
 * second root, a jump of more than one level, or a node with more or fewer children than ClickHouse
 * counted), and the query is refused rather than read wrongly.
 */
const treeOf = (lines: readonly string[]): Node | undefined => {
  const stack: { depth: number; node: Node }[] = [];
  const nodes: Node[] = [];
  let root: Node | undefined;
  for (const line of lines) {
    const depth = line.length - line.trimStart().length;
    const text = line.trim();
    const count = / \(children (\d+)\)$/.exec(text);
    const label = count ? text.slice(0, count.index) : text;
    if (label.includes("(children ")) return undefined;
    const node: Node = { label, declared: Number(count?.[1] ?? 0), children: [] };
    while (stack.length > 0 && (stack.at(-1) as { depth: number }).depth >= depth) stack.pop();
    const parent = stack.at(-1);
    if (parent) {
      if (depth !== parent.depth + 1) return undefined;
      parent.node.children.push(node);
    } else {
      if (root || depth !== 0) return undefined;
      root = node;
    }
    stack.push({ depth, node });
    nodes.push(node);
  }
  return nodes.every((node) => node.children.length === node.declared) ? root : undefined;
};

/** The name in a node's label, without the alias ClickHouse prints after it. */
const nameAfter = (label: string, kind: string) => label.slice(kind.length + 1).replace(/ \(alias .*\)$/, "");

/** `SELECT 1` reads `system.one` (one row, one column), as if it were named: nothing to hide there. */
const IMPLICIT = "system.one";

/**
 * What in ClickHouse's parse of a query the rules refuse, or undefined: anything but SELECT; FORMAT,
 * INTO OUTFILE or SETTINGS; a table function; a qualified table that is not a documented one; a
 * function that reaches outside the tables. An unqualified name is a WITH query's or one of the
 * current database's (embedded: `default`, which holds nothing; the analyst user on a server: the
 * views database).
 */
export const refusalOf = (ast: readonly string[], allowed: ReadonlySet<string>): string | undefined => {
  if (ast.length === 0) return "the query is empty";
  const root = treeOf(ast);
  if (!root) return "the query's parse cannot be read: a name with a line break in it?";
  if (!/^(SelectWithUnionQuery|SelectIntersectExceptQuery)\b/.test(root.label)) {
    const kind = root.label.split(" ")[0] ?? root.label;
    return `only SELECT queries are allowed, not ${kind.replace(/Query$/, "") || kind}`;
  }
  // The root's children: the SELECTs, then FORMAT or INTO OUTFILE if any.
  if (root.children.length > 1) return "FORMAT and INTO OUTFILE are not allowed: the answer is JSON";
  const table = (name: string): string | undefined =>
    name.includes(".") && !allowed.has(name)
      ? `${name} is not one of the documented analytics tables (${[...allowed].join(", ")})`
      : undefined;
  const visit = (node: Node): string | undefined => {
    if (node.label === "Set") return "SETTINGS are not allowed: the bounds are the service's";
    if (node.label === "TableExpression") {
      const source = node.children[0];
      if (source?.label.startsWith("Function ")) {
        return `table functions are not allowed (${nameAfter(source.label, "Function")})`;
      }
      if (source?.label.startsWith("TableIdentifier ")) {
        const refused = table(nameAfter(source.label, "TableIdentifier"));
        if (refused) return refused;
      }
    }
    if (node.label.startsWith("Function ")) {
      const name = nameAfter(node.label, "Function");
      if (OUTSIDE.has(name) || /^dict/i.test(name)) {
        return `the function ${name} is not allowed: it reaches outside the analytics tables`;
      }
      if (SLOW.has(name)) {
        return `the function ${name} is not allowed: its cost grows with the square of its input, past the time bound`;
      }
      // `x IN db.table` reads the table.
      const right = node.children[0]?.children[1];
      if (IN_FUNCTION.test(name) && right?.label.startsWith("Identifier ")) {
        const refused = table(nameAfter(right.label, "Identifier"));
        if (refused) return refused;
      }
    }
    for (const child of node.children) {
      const refused = visit(child);
      if (refused) return refused;
    }
    return undefined;
  };
  return visit(root);
};

/**
 * Analysts' own SQL over the documented tables, read-only and bounded. What is enforced where:
 * - ClickHouse's parser: the text reaches it first as a bound value (`formatQuery`), so a second
 *   statement is refused before anything runs, and from then on only its canonical form (one
 *   statement, comments gone) is sent;
 * - ClickHouse's parse tree (`EXPLAIN AST`, which runs nothing): one SELECT, no SETTINGS, FORMAT,
 *   table functions, tables outside the allowed ones, or functions that read outside them
 *   ({@link refusalOf});
 * - ClickHouse's settings, on the query that runs: the bounds, and `readonly=1`, a second line only
 *   (it holds for the outer query, and a subquery's own SETTINGS would lift it: the parse tree is
 *   what refuses those); against a server, the grants of the user it runs as, which hold whatever
 *   the query says.
 */
export class AnalyticsSql {
  private running = 0;
  private readonly allowed: ReadonlySet<string>;

  constructor(
    private readonly client: ClickHouseClient,
    tables: readonly string[],
    private readonly limits: SqlLimits,
  ) {
    this.allowed = new Set([...tables, IMPLICIT]);
  }

  async run(query: string, params: SqlParams = {}): Promise<SqlAnswer> {
    if (this.running >= this.limits.concurrency) {
      throw new SqlQueryError(
        "busy",
        `${this.limits.concurrency} analytics quer${this.limits.concurrency === 1 ? "y is" : "ies are"} running; retry shortly`,
      );
    }
    this.running++;
    try {
      const canonical = await this.canonical(query);
      await this.check(canonical, params);
      return await this.execute(canonical, params);
    } catch (error) {
      throw refusalFor(error);
    } finally {
      this.running--;
    }
  }

  private async canonical(query: string): Promise<string> {
    try {
      const [row] = await queryRows<{ q: string }>(
        this.client,
        `SELECT formatQuery({text:String}) AS q SETTINGS max_execution_time = ${this.limits.timeoutMs / 1000}`,
        {
          text: query,
        },
      );
      return row?.q ?? "";
    } catch (error) {
      const ch = clickHouseError(error);
      if (ch?.message.includes("Multi-statements are not allowed")) {
        throw new SqlQueryError("not_allowed", "one statement only: the query holds more than one");
      }
      throw error;
    }
  }

  private async check(canonical: string, params: SqlParams): Promise<void> {
    // As a subquery, so that the client's FORMAT is the outer query's, not the one explained. There,
    // ClickHouse explains nothing but a SELECT without FORMAT or INTO OUTFILE (BAD_ARGUMENTS).
    let lines: { explain: string }[];
    try {
      lines = await queryRows<{ explain: string }>(
        this.client,
        `SELECT explain FROM (EXPLAIN AST ${canonical}) SETTINGS max_execution_time = ${this.limits.timeoutMs / 1000}`,
        params,
      );
    } catch (error) {
      if (clickHouseError(error)?.type !== "BAD_ARGUMENTS") throw error;
      throw new SqlQueryError(
        "not_allowed",
        "only a SELECT is allowed, without FORMAT or INTO OUTFILE (the answer is JSON)",
      );
    }
    const refused = refusalOf(
      lines.map((l) => l.explain),
      this.allowed,
    );
    if (refused) throw new SqlQueryError("not_allowed", refused);
  }

  private async execute(canonical: string, params: SqlParams): Promise<SqlAnswer> {
    const { timeoutMs, maxMemoryBytes, maxRowsToRead, maxResultRows, maxResultBytes, maxThreads } =
      this.limits;
    // In the query, not as the client's settings: chDB's client sends those as SETs, which would
    // stay on the session that the projection writes through.
    const settings = [
      "readonly = 1",
      `max_execution_time = ${timeoutMs / 1000}`,
      `max_memory_usage = ${maxMemoryBytes}`,
      `max_rows_to_read = ${maxRowsToRead}`,
      // The LIMIT bounds the rows; these only keep a server profile's own row bound out of the way.
      `max_result_rows = ${maxResultRows + 1}`,
      `max_result_bytes = ${maxResultBytes}`,
      "result_overflow_mode = 'throw'",
      `max_threads = ${maxThreads}`,
      // 64-bit integers and decimals as JSON strings: exact past 2^53.
      "output_format_json_quote_64bit_integers = 1",
      "output_format_json_quote_decimals = 1",
    ].join(", ");
    const result = await this.client.query({
      // One row past the bound: there, and the answer was cut.
      query: `SELECT * FROM (\n${canonical}\n) LIMIT ${maxResultRows + 1} SETTINGS ${settings}`,
      query_params: { ...params },
      format: "JSONCompact",
    });
    // ClickHouse checks `max_result_bytes` between blocks, and chDB not at all: one block can be
    // large. Its memory bound holds what it makes; this, what the service parses and sends.
    const text = await result.text();
    if (text.length > maxResultBytes) {
      throw new SqlQueryError(
        "limit",
        `the answer is over ${maxResultBytes} bytes (EVENTFOLD_ANALYTICS_SQL_MAX_RESULT_BYTES): select fewer rows or columns`,
      );
    }
    const body = JSON.parse(text) as {
      meta: { name: string; type: string }[];
      data: unknown[][];
      statistics?: { elapsed?: number; rows_read?: number };
    };
    return {
      columns: body.meta.map(({ name, type }) => ({ name, type })),
      rows: body.data.slice(0, maxResultRows),
      rowsRead: Number(body.statistics?.rows_read ?? 0),
      elapsedMs: Math.round((body.statistics?.elapsed ?? 0) * 1000 * 1000) / 1000,
      truncated: body.data.length > maxResultRows,
    };
  }
}

const refusalFor = (error: unknown): SqlQueryError => {
  if (error instanceof SqlQueryError) return error;
  const ch = clickHouseError(error);
  if (!ch) {
    return new SqlQueryError("unavailable", `ClickHouse did not answer: ${cleanMessage(String(error))}`);
  }
  const message = cleanMessage(ch.message);
  if (LIMITS.has(ch.type)) return new SqlQueryError("limit", message);
  if (REFUSALS.has(ch.type)) return new SqlQueryError("not_allowed", message);
  if (MISCONFIGURED.has(ch.type)) {
    return new SqlQueryError("unavailable", `ClickHouse refuses the service's analyst user: ${message}`);
  }
  if (ch.type === "TOO_MANY_SIMULTANEOUS_QUERIES") return new SqlQueryError("busy", message);
  return new SqlQueryError("invalid", message);
};
