/** The actor's mailbox is full: the client should back off and retry. */
export class MailboxFullError extends Error {
  override readonly name = "MailboxFullError";
}

/** A command lost the optimistic-concurrency race too many times in a row. */
export class ContentionError extends Error {
  override readonly name = "ContentionError";
}

/** The runtime is draining for shutdown and takes no new commands. */
export class ShuttingDownError extends Error {
  override readonly name = "ShuttingDownError";
}
