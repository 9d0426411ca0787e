import type { HotDocument, HotLookup, VersionedWrite, WriteResult } from "./hot-lookup.ts";

/** The embedded hot lookup: a Map, with waiters woken when a document moves. */
export class MemoryHotLookup implements HotLookup {
  readonly name = "in-process";
  private readonly documents = new Map<string, Record<string, string>>();
  private readonly waiters = new Map<string, Set<() => void>>();

  async applyMany(writes: readonly VersionedWrite[]): Promise<WriteResult[]> {
    return writes.map((write) => {
      const document = this.documents.get(write.key);
      const current = Number(document?.version ?? 0);
      if (write.version <= current) return { status: "duplicate", current };
      if (write.version !== current + 1) return { status: "gap", current };
      this.documents.set(write.key, { ...document, ...write.fields, version: String(write.version) });
      for (const wake of this.waiters.get(write.key) ?? []) wake();
      return { status: "applied", current: write.version };
    });
  }

  async get(key: string): Promise<HotDocument | undefined> {
    return this.documents.get(key);
  }

  async waitForVersion(key: string, minVersion: number, timeoutMs: number): Promise<HotDocument | undefined> {
    const deadline = Date.now() + timeoutMs;
    const reached = () => Number(this.documents.get(key)?.version ?? 0) >= minVersion;
    while (!reached()) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const waiting = this.waiters.get(key) ?? new Set();
        this.waiters.set(key, waiting);
        const done = () => {
          clearTimeout(timer);
          waiting.delete(done);
          if (waiting.size === 0) this.waiters.delete(key);
          resolve();
        };
        const timer = setTimeout(done, left);
        waiting.add(done);
      });
    }
    return this.documents.get(key);
  }

  async any(prefix: string): Promise<boolean> {
    for (const key of this.documents.keys()) if (key.startsWith(prefix)) return true;
    return false;
  }

  async clear(prefix: string): Promise<void> {
    for (const key of this.documents.keys()) if (key.startsWith(prefix)) this.documents.delete(key);
  }

  readonly volatile = true;

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
