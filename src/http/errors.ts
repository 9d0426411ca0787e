import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import { ContentionError, MailboxFullError, ShuttingDownError } from "../runtime/errors.ts";
import {
  AppendTooLargeError,
  StoreOutcomeUnknownError,
  StoreOverloadedError,
  StoreUnavailableError,
} from "../store/event-store.ts";
import { ProblemError, problem } from "./problem.ts";
import type { Reply } from "./route.ts";

/**
 * The status of a request whose client hung up before it was answered (nginx's convention): nobody
 * reads the answer, and it is no fault of the server's.
 */
export const CLIENT_CLOSED = 499;

export const withRetry = (reply: Reply): Reply => ({
  ...reply,
  headers: { ...reply.headers, "Retry-After": "1" },
});

/**
 * A store that could not write: `written` says whether the command may have been kept, for a client
 * to switch on; the detail says what to do, which depends on whether the request carried a key.
 */
const storeUnavailable = (error: StoreUnavailableError, keyed: boolean): Reply => {
  const unknown = error instanceof StoreOutcomeUnknownError;
  const detail = unknown
    ? keyed
      ? "the event store could not confirm the write: it was not acknowledged, and may or may not be kept; retry with the same Idempotency-Key to learn which (never with a new one)"
      : "the event store could not confirm the write: it was not acknowledged, and may or may not be kept; this request had no Idempotency-Key, so read the aggregate's version before sending it again, or it may be applied twice"
    : "the event store cannot write now; nothing was written, and the request can be sent again";
  const reply = withRetry(problem(503, "unavailable", detail));
  return { ...reply, body: { ...(reply.body as object), written: unknown ? "unknown" : "no" } };
};

/** What an error's answer depends on, of the request it ended. */
export interface Failed {
  readonly signal: AbortSignal | undefined;
  /** The request carried an `Idempotency-Key`: a retry under it is safe. */
  readonly keyed: boolean;
  /** A read (GET): a store that failed it wrote nothing, whatever its error says of writes. */
  readonly read?: boolean;
}

/** What anything thrown while serving a request comes to: a problem; the unexpected, a 500 without internals. */
export const errorReply = (error: unknown, { signal, keyed, read = false }: Failed): Reply => {
  if (error instanceof ProblemError) return error.reply;
  if (signal?.aborted) {
    return problem(CLIENT_CLOSED, "client_closed_request", "the client closed the connection first");
  }
  if (error instanceof MailboxFullError) {
    return withRetry(problem(429, "overloaded", "this account is receiving too many commands"));
  }
  if (error instanceof StoreOverloadedError) {
    return withRetry(problem(503, "overloaded", "the write pipeline is full; retry shortly"));
  }
  if (error instanceof ContentionError) {
    return withRetry(problem(503, "overloaded", "too many writers on this aggregate at once; retry shortly"));
  }
  if (error instanceof StoreUnavailableError) {
    if (read) return withRetry(problem(503, "unavailable", "the event store cannot be read now"));
    return storeUnavailable(error, keyed);
  }
  if (error instanceof AppendTooLargeError) {
    return problem(
      413,
      "payload_too_large",
      "the events this command makes are larger than the event store keeps in one write; nothing was written",
    );
  }
  if (error instanceof ShuttingDownError) {
    return withRetry(problem(503, "unavailable", "the server is shutting down"));
  }
  return problem(500, "internal_error", "an unexpected error occurred");
};

/**
 * Counts and logs a failure once its reply is known. Only a 500 is the server's own fault worth an
 * error line; a store that cannot write is logged where it starts, once per episode.
 */
export const recordFailure = (
  log: Logger,
  metrics: Metrics,
  error: unknown,
  reply: Reply,
  context: Record<string, unknown>,
): void => {
  if (error instanceof MailboxFullError) metrics.overloaded.inc({ where: "mailbox" });
  if (error instanceof StoreOverloadedError) metrics.overloaded.inc({ where: "store" });
  if (reply.status === 500) log.error({ err: error, ...context }, "request failed");
  else if (reply.status === CLIENT_CLOSED) log.debug({ ...context }, "the client hung up");
};
