import type { ErasureRecord, SubjectKeyStore } from "./subject-keys.ts";

export interface ErasureWatch {
  stop(): void;
}

/** How far back each poll looks again: erasures recorded late (another clock, a slow commit) are caught. */
const OVERLAP_MS = 60_000;
const PAGE = 500;

/**
 * Tells `onErased` of every erasure recorded in the key store, whichever process made it, within
 * `everyMs`: a process that holds subjects' data in memory drops it, as the one that erased did at
 * once, and the erasure's event is made sure of. The records' `erasedAt` comes from the erasing
 * process's clock, and a record may commit after a later one: each poll reads again the last minute
 * before the newest instant seen, and tells only the records not told yet.
 */
export const watchErasures = (
  keys: Pick<SubjectKeyStore, "erasedSince">,
  onErased: (records: readonly ErasureRecord[]) => Promise<void> | void,
  /** `after`: "" for every erasure ever recorded (a start makes sure each one's event is in the log). */
  options: { readonly everyMs: number; readonly after: string; readonly onError: (error: unknown) => void },
): ErasureWatch => {
  let newest = options.after;
  /** Told already, by `subjectId erasedAt`, for the records inside the overlap. */
  const told = new Map<string, string>();
  let busy = false;
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      let from = newest === "" ? "" : new Date(Math.max(0, Date.parse(newest) - OVERLAP_MS)).toISOString();
      for (;;) {
        const records = await keys.erasedSince(from, PAGE);
        const fresh = records.filter((r) => !told.has(`${r.subjectId} ${r.erasedAt}`));
        if (fresh.length > 0) await onErased(fresh);
        for (const r of fresh) told.set(`${r.subjectId} ${r.erasedAt}`, r.erasedAt);
        for (const r of records) if (r.erasedAt > newest) newest = r.erasedAt;
        if (records.length < PAGE) break;
        // A full page: go on after its last instant (records sharing it are told by their key).
        from = records.at(-1)?.erasedAt ?? from;
      }
      if (newest !== "") {
        const horizon = new Date(Date.parse(newest) - OVERLAP_MS).toISOString();
        for (const [key, at] of told) if (at < horizon) told.delete(key);
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
