/**
 * Starts the WAL checkpointer thread for a database file (see `checkpointer-thread.ts`). It holds no
 * state worth saving, so stopping it is terminating it.
 */
export const startCheckpointer = (path: string, intervalMs: number): { stop(): void } => {
  const worker = new Worker(new URL("./checkpointer-thread.ts", import.meta.url).href, {
    name: "wal-checkpoint",
    smol: true,
  });
  worker.unref();
  worker.postMessage({ path, intervalMs });
  return { stop: () => worker.terminate() };
};
