import type { HeadsFlush, WriteOp, WriteResult } from "./writer.ts";
import { epochMs, type WriterReply, type WriterRequest } from "./writer-protocol.ts";

type Call = {
  readonly resolve: (results: WriteResult[]) => void;
  readonly reject: (error: Error) => void;
  /** When it was posted (epoch milliseconds), and how many operations it carries. */
  readonly sentAt: number;
  readonly size: number;
};

/** Where a write's time went, in milliseconds; see `WriteStage`. */
export interface WriteLeg {
  /** Operations in the batch. */
  readonly size: number;
  /** Posted until the thread took it (behind the batch it was still writing, if any). */
  readonly sendMs: number;
  /** The statements, up to the commit. */
  readonly writeMs: number;
  /** The commit: where the WAL is fsynced. */
  readonly commitMs: number;
  /** The thread's end until this thread's event loop took the answer. */
  readonly hopMs: number;
}
type Distribute<T> = T extends unknown ? Omit<T, "id"> : never;

/** The main thread's handle on the writer thread: one promise per request, answered in order. */
export class WriterClient {
  private readonly worker: Worker;
  private readonly calls = new Map<number, Call>();
  private nextId = 1;
  private failure: Error | undefined;

  constructor(
    path: string,
    private readonly hooks: {
      /** Where each write's time went. */
      readonly onWritten?: (leg: WriteLeg) => void;
      /** A batch wrote the stream heads to their table, complete through this position. */
      readonly onHeadsFlushed?: (through: number) => void;
      readonly headsFlush?: HeadsFlush;
      /** Whether appends extend the ledger's tree (default true). */
      readonly ledger?: boolean;
    } = {},
  ) {
    this.worker = new Worker(new URL("./writer-thread.ts", import.meta.url).href, {
      name: "sqlite-writer",
      // Little JavaScript runs there: a heap collected more often costs it nothing measurable.
      smol: true,
    });
    this.worker.onmessage = (event: MessageEvent<string>) => this.settle(JSON.parse(event.data));
    this.worker.onerror = (event) =>
      this.fail(new Error(`the SQLite writer thread failed: ${event.message}`));
    this.worker.addEventListener("close", () => this.fail(new Error("the SQLite writer thread exited")));
    // Idle, the thread must not keep the process alive; while a write is in flight it must.
    this.worker.unref();
    // Messages are handled in order, so writes sent before the file is open wait for it.
    this.call({ kind: "open", path, headsFlush: hooks.headsFlush, ledger: hooks.ledger }).catch(
      (error: Error) => this.fail(error),
    );
  }

  write(batch: readonly WriteOp[]): Promise<WriteResult[]> {
    return this.call({ kind: "write", batch });
  }

  async close(): Promise<void> {
    if (!this.failure) await this.call({ kind: "close" }).catch(() => {});
    this.failure ??= new Error("the SQLite event store is closed");
    this.worker.terminate();
  }

  private call(request: Distribute<WriterRequest>): Promise<WriteResult[]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    if (this.calls.size === 0) this.worker.ref();
    const size = request.kind === "write" ? request.batch.length : 0;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject, sentAt: epochMs(), size });
      // A JSON string crosses threads several times faster than a structured clone of the same objects.
      this.worker.postMessage(JSON.stringify({ ...request, id }));
    });
  }

  private settle(reply: WriterReply): void {
    const call = this.calls.get(reply.id);
    if (!call) return;
    this.calls.delete(reply.id);
    if (this.calls.size === 0) this.worker.unref();
    const { onWritten, onHeadsFlushed } = this.hooks;
    if (reply.ok && reply.headsThrough !== undefined) onHeadsFlushed?.(reply.headsThrough);
    if (reply.ok && reply.timing && onWritten) {
      const { startedAt, commitMs, endedAt } = reply.timing;
      onWritten({
        size: call.size,
        sendMs: startedAt - call.sentAt,
        writeMs: endedAt - startedAt - commitMs,
        commitMs,
        hopMs: epochMs() - endedAt,
      });
    }
    if (reply.ok) call.resolve(reply.results);
    else
      call.reject(
        Object.assign(new Error(reply.error.message), { name: reply.error.name, code: reply.error.code }),
      );
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const call of this.calls.values()) call.reject(error);
    this.calls.clear();
  }
}
