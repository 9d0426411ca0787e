/**
 * The writer thread's entry point. An fsynced commit blocks its thread for milliseconds; here it
 * blocks only this thread, so the event loop that serves HTTP keeps deciding the next batch.
 */
import { SqliteWriter } from "./writer.ts";
import { epochMs, type WriterReply, type WriterRequest } from "./writer-protocol.ts";

declare const self: Worker;

let writer: SqliteWriter | undefined;

const answer = (reply: WriterReply) => self.postMessage(JSON.stringify(reply));

self.onmessage = (event: MessageEvent<string>) => {
  const request = JSON.parse(event.data) as WriterRequest;
  try {
    switch (request.kind) {
      case "open":
        writer = new SqliteWriter(request.path, request.headsFlush, request.ledger ?? true);
        return answer({ id: request.id, ok: true, results: [] });
      case "write": {
        if (!writer) throw new Error("the writer thread has no open database");
        const startedAt = epochMs();
        const results = writer.write(request.batch);
        const timing = { startedAt, commitMs: writer.lastCommitMs, endedAt: epochMs() };
        const headsThrough = writer.lastFlushThrough;
        return answer({ id: request.id, ok: true, results, timing, headsThrough });
      }
      case "close":
        writer?.close();
        writer = undefined;
        return answer({ id: request.id, ok: true, results: [] });
    }
  } catch (error) {
    const { message, name } = error instanceof Error ? error : new Error(String(error));
    const code = (error as { code?: unknown }).code;
    answer({
      id: request.id,
      ok: false,
      error: { message, name, code: typeof code === "string" ? code : undefined },
    });
  }
};
