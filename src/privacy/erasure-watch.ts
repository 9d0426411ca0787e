import type { ErasureRecord, SubjectKeyStore } from "./subject-keys.ts";

export interface ErasureWatch {
  stop(): void;
}

/**
 * Tells `onErased` of every erasure recorded in the key store, whichever process made it, within
 * `everyMs`: a process that holds subjects' data in memory (an edge's actors) drops it, as the one that
 * erased did at once. It follows the records' own `erasedAt` (the erasing process's clock), starting
 * from `after`; one seen twice is harmless to drop twice.
 */
export const watchErasures = (
  keys: Pick<SubjectKeyStore, "erasedSince">,
  onErased: (records: readonly ErasureRecord[]) => void,
  options: { readonly everyMs: number; readonly after: string; readonly onError: (error: unknown) => void },
): ErasureWatch => {
  let after = options.after;
  let busy = false;
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      for (;;) {
        const records = await keys.erasedSince(after, 500);
        if (records.length === 0) break;
        onErased(records);
        after = records.at(-1)?.erasedAt ?? after;
        if (records.length < 500) break;
      }
    } catch (error) {
      options.onError(error);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(poll, options.everyMs);
  timer.unref?.();
  return { stop: () => clearInterval(timer) };
};
