/**
 * Resolves after the event loop has had a turn (I/O, timers, other requests). Long synchronous work,
 * such as a projection applying thousands of events, awaits it between slices so no request waits
 * behind the whole of it.
 */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Calls `each` for every item, in order, with a turn of the event loop after every `slice` of them.
 * A promise `each` returns is awaited before the next item. The iterator of a Map or Set stays valid
 * across the turns: it sees entries deleted or added meanwhile.
 */
export const forEachInSlices = async <T>(
  items: Iterable<T>,
  slice: number,
  each: (item: T) => unknown,
): Promise<void> => {
  let done = 0;
  for (const item of items) {
    if (done > 0 && done % slice === 0) await yieldToEventLoop();
    const pending = each(item);
    if (pending instanceof Promise) await pending;
    done += 1;
  }
};
