import type { Rejection } from "../aggregate.ts";
import { problemTypeUri } from "./problem-types.ts";
import type { Reply } from "./route.ts";

/** An RFC 9457 problem body; `code` is the stable, machine-readable part of the API contract. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
  readonly errors?: readonly ValidationIssue[];
}

export interface ValidationIssue {
  readonly in: "body" | "path" | "query" | "header";
  readonly path: string;
  readonly message: string;
}

const titles: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  412: "Precondition Failed",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  499: "Client Closed Request",
  500: "Internal Server Error",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

export const problem = (status: number, code: string, detail: string, errors?: ValidationIssue[]): Reply => ({
  status,
  body: {
    type: problemTypeUri(code),
    title: titles[status] ?? "Error",
    status,
    detail,
    code,
    ...(errors ? { errors } : {}),
  } satisfies Problem,
});

const statusOfKind: Record<Rejection["kind"], number> = {
  not_found: 404,
  conflict: 409,
  precondition: 412,
  key_reused: 422,
};

export const rejectionProblem = (rejection: Rejection): Reply =>
  problem(statusOfKind[rejection.kind], rejection.code, rejection.detail);

/** Thrown anywhere in a request to answer with a problem (and the reply's headers, if any). */
export class ProblemError extends Error {
  constructor(readonly reply: Reply) {
    super((reply.body as Problem).detail);
  }
}

// A declaration, not an arrow, so TypeScript narrows after a call to it.
export function fail(status: number, code: string, detail: string, errors?: ValidationIssue[]): never {
  throw new ProblemError(problem(status, code, detail, errors));
}
