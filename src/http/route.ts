import type { z } from "zod";
import type { Role } from "../config.ts";
import type { DomainApi } from "../runtime/api.ts";
import type { CommandMetadata, IdempotencyRequest } from "../runtime/command.ts";

/** An HTTP answer: status, JSON body (or a stream, as its success declares) and any headers of its own. */
export interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RouteContext<P, Q, B, H = Record<string, never>> extends DomainApi {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  /** The request headers the route declares, validated. */
  readonly headers: H;
  /** From `If-Match` on command routes. */
  readonly expectedVersion?: number;
  /** From `Idempotency-Key` on command routes: the caller's key and this request's fingerprint. */
  readonly idempotency?: IdempotencyRequest;
  readonly metadata: CommandMetadata;
  /** The name of the API key that called, where auth is on: for what is logged with who did it. */
  readonly principal?: string;
  readonly signal: AbortSignal;
  readonly connection: Connection;
}

/**
 * The connection a request came on, where the server lets a route steer it (in-process requests have
 * none: each call does nothing).
 */
export interface Connection {
  /** Closes it once silent for `seconds` (0: never): for an answer that waits, or streams, by design. */
  idleTimeout(seconds: number): void;
}

/** A group of routes in the OpenAPI document (and a generated client's docs). */
export interface Tag {
  readonly name: string;
  readonly description: string;
}

/** What a route answers when it succeeds: its status, what that means, and its body's schema. */
export interface Success {
  readonly status: 200 | 201 | 202;
  readonly description: string;
  /** Documents the body in the OpenAPI document; where responses are checked, the body must match. */
  readonly body: z.ZodType;
  /**
   * `text/event-stream`: the handler answers a `ReadableStream` of Server-Sent Events, and `body`
   * documents one event's `data` (default `application/json`).
   */
  readonly contentType?: "application/json" | "text/event-stream";
  /** Headers it sets besides the usual ones (`ETag` on a body with a version). */
  readonly headers?: readonly ("Location" | "ETag")[];
}

/** The problem codes a route answers with, by status: beyond those every route may (see contract.ts). */
export type RouteProblems = Readonly<Partial<Record<number, readonly string[]>>>;

export interface RouteSpec<P, Q, B, H = Record<string, never>> {
  readonly method: "get" | "post";
  /** Hono path syntax: `/v1/accounts/:id`. */
  readonly path: string;
  /** Unique, camelCase: a generated client's method name. */
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: Tag;
  /** The least role that may call it when auth is on. */
  readonly role: Role;
  readonly params?: z.ZodType<P>;
  readonly query?: z.ZodType<Q>;
  readonly body?: z.ZodType<B>;
  /** Request headers it reads, keyed by their name as documented (`Last-Event-ID`); absent: undefined. */
  readonly headers?: z.ZodType<H>;
  /** A write: takes `If-Match` and `Idempotency-Key`, and its outcome is counted as a command's. */
  readonly command?: true;
  readonly success: Success;
  readonly problems?: RouteProblems;
  handle(context: RouteContext<P, Q, B, H>): Promise<Reply>;
}

/** A route with its types erased, as the edge and the OpenAPI generator see it. */
export type HttpRoute = RouteSpec<unknown, unknown, unknown, unknown>;

export const defineRoute = <
  P = Record<string, never>,
  Q = Record<string, never>,
  B = undefined,
  H = Record<string, never>,
>(
  spec: RouteSpec<P, Q, B, H>,
): HttpRoute => spec as unknown as HttpRoute;
