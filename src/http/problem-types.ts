/**
 * A problem code as a client reads it: the status it comes with and when. Every `type` URI of a
 * problem (`/problems/<code>`) resolves to a page made from one of these, served by the edge.
 */
export interface ProblemType {
  readonly code: string;
  /** Most codes come with one status; `overloaded` with 429 (one account) or 503 (the store). */
  readonly statuses: readonly number[];
  /** When it is answered, and what a client should do about it. */
  readonly description: string;
}

/** The URI reference in a problem's `type`: relative, so it resolves against the server that answered. */
export const problemTypeUri = (code: string): string => `/problems/${code}`;

/** The problems of the edge itself, whatever the domain: validation, auth, the protocol, capacity. */
export const edgeProblemTypes: readonly ProblemType[] = [
  {
    code: "validation_failed",
    statuses: [400],
    description:
      "The body, a path or query parameter or a header does not match the route's schema (unknown fields and query parameters included), a query parameter is given twice, a body is sent to a POST that takes none (`{}` aside), or the body is not valid JSON or names a key twice. `errors` lists each issue with where it is (`in`), the field (`path`) and what is allowed (`message`). Fix the request; sending it again unchanged gets the same answer.",
  },
  {
    code: "unauthorized",
    statuses: [401],
    description:
      "Auth is on and the request has no `Authorization: Bearer <token>` header, or its token is not known. The answer carries `WWW-Authenticate: Bearer`.",
  },
  {
    code: "forbidden",
    statuses: [403],
    description:
      "The token is known but its role may not call this route: commands need `writer`, reads `reader` or more, `/v1/admin` needs `admin`.",
  },
  {
    code: "not_found",
    statuses: [404],
    description:
      "Nothing is at this path: no such route, or no such account, transfer or projection (`detail` says which).",
  },
  {
    code: "version_conflict",
    statuses: [412],
    description:
      'The command carried `If-Match: "<version>"` and the aggregate is at another version. Nothing was written: read the aggregate again and decide anew.',
  },
  {
    code: "payload_too_large",
    statuses: [413],
    description:
      "The body is over the size limit (64 KiB unless the operator set another), or a command's events are larger than the event store keeps in one write (MongoDB: 16 MiB). Nothing was written. A body over four times the limit, and over 1 MiB, is refused by the HTTP server itself before the edge reads it: 413 with no body; behind the load balancer (ops/nginx.conf), nginx answers one over 1 MiB with this problem.",
  },
  {
    code: "unsupported_media_type",
    statuses: [415],
    description:
      "A request with a body did not send it as `Content-Type: application/json` (its only parameter may be `charset=utf-8`). Its relatives, such as `application/merge-patch+json`, are refused too: they ask for another operation than the route's.",
  },
  {
    code: "idempotency_key_reused",
    statuses: [422],
    description:
      "The `Idempotency-Key` was used before for another request (another route, body or `If-Match`). Nothing was written; use a new key for a new request.",
  },
  {
    code: "overloaded",
    statuses: [429, 503],
    description:
      "429: this account is receiving more commands than it can queue, or the analytics SQL queries allowed at once (`EVENTFOLD_ANALYTICS_SQL_CONCURRENCY`) are running. 503: the write pipeline is full, or too many writers contend for one aggregate. Nothing was acknowledged; retry after `Retry-After` seconds, with the same `Idempotency-Key`.",
  },
  {
    code: "headers_too_large",
    statuses: [431],
    description:
      "The request's head (its request line and header fields) is over 16 KiB. Send fewer or shorter headers. A head over 64 KiB is refused by the HTTP server itself, before the edge reads it: 431 with no body; behind the load balancer (ops/nginx.conf), nginx answers that one with this problem.",
  },
  {
    code: "unavailable",
    statuses: [503],
    description:
      "The event store cannot write now (a full disk, a server that does not answer) or the server is shutting down. When the store answered it, `written` says what became of the command: `no`, nothing was written; `unknown`, it was not acknowledged but may be kept (the store lost its answer: a failover, a time-out). Retry after `Retry-After` seconds with the same `Idempotency-Key`: it gets the first answer if the command was kept, and never applies it twice. Without a key, read the aggregate's version before sending it again. To an analytics SQL query: ClickHouse does not answer, or refuses the service's analyst user; such an answer has no `written` field, since a query writes nothing.",
  },
  {
    code: "client_closed_request",
    statuses: [499],
    description:
      "Logged and counted when a client hangs up before its answer: nobody receives it. A command may have been applied; send it again with the same `Idempotency-Key` to learn its answer.",
  },
  {
    code: "internal_error",
    statuses: [500],
    description:
      "A fault of the server's own; logged with the request's correlation id (`X-Correlation-Id`), never with internals in the answer.",
  },
  {
    code: "contract_violation",
    statuses: [500],
    description:
      "Only where answers are checked against this document (`EVENTFOLD_CHECK_RESPONSES`, on in the tests): the server was about to send an answer its OpenAPI document does not allow. `detail` says which.",
  },
];

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page a problem's `type` URI resolves to: plain HTML, readable in a browser and by a script. */
export const problemPage = (type: ProblemType): string => {
  // `code` spans in the descriptions are backquoted, as in the Markdown docs.
  const description = escapeHtml(type.description).replace(/`([^`]+)`/g, "<code>$1</code>");
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${type.code}: eventfold problem type</title></head>
<body>
<h1><code>${type.code}</code></h1>
<p>HTTP status: ${type.statuses.join(" or ")}</p>
<p>${description}</p>
<p>All problem types: <a href="/problems">/problems</a>. The API: <a href="/openapi.json">/openapi.json</a>.</p>
</body>
</html>
`;
};

/** The index of every problem type. */
export const problemIndexPage = (types: readonly ProblemType[]): string => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>eventfold problem types</title></head>
<body>
<h1>Problem types</h1>
<ul>
${types.map((t) => `<li><a href="${problemTypeUri(t.code)}"><code>${t.code}</code></a> (${t.statuses.join(", ")})</li>`).join("\n")}
</ul>
</body>
</html>
`;
