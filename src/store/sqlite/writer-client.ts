import type { WriteOp, WriteResult } from "./writer.ts";
import type { WriterReply, WriterRequest } from "./writer-protocol.ts";

type Call = { resolve: (results: WriteResult[]) => void; reject: (error: Error) => void };
type Distribute<T> = T extends unknown ? Omit<T, "id"> : never;

/** The main thread's handle on the writer thread: one promise per request, answered in order. */
export class WriterClient {
  private readonly worker: Worker;
  private readonly calls = new Map<number, Call>();
  private nextId = 1;
  private failure: Error | undefined;

  constructor(path: string) {
    this.worker = new Worker(new URL("./writer-thread.ts", import.meta.url).href);
    this.worker.onmessage = (event: MessageEvent<string>) => this.settle(JSON.parse(event.data));
    this.worker.onerror = (event) =>
      this.fail(new Error(`the SQLite writer thread failed: ${event.message}`));
    this.worker.addEventListener("close", () => this.fail(new Error("the SQLite writer thread exited")));
    // Idle, the thread must not keep the process alive; while a write is in flight it must.
    this.worker.unref();
    // Messages are handled in order, so writes sent before the file is open wait for it.
    this.call({ kind: "open", path }).catch((error: Error) => this.fail(error));
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
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      // A JSON string crosses threads several times faster than a structured clone of the same objects.
      this.worker.postMessage(JSON.stringify({ ...request, id }));
    });
  }

  private settle(reply: WriterReply): void {
    const call = this.calls.get(reply.id);
    if (!call) return;
    this.calls.delete(reply.id);
    if (this.calls.size === 0) this.worker.unref();
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
