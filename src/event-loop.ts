/**
 * Resolves after the event loop has had a turn (I/O, timers, other requests). Long synchronous work,
 * such as a projection applying thousands of events, awaits it between slices so no request waits
 * behind the whole of it.
 */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
