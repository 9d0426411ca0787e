/**
 * Preloaded (`bun --preload`) into a service whose read side runs on its own thread: on that thread
 * only, once the file named by EVENTFOLD_TEST_CRASH_FILE exists, an error nobody catches is thrown
 * there, as a bug in a projection or a read store's client would.
 */
import { existsSync } from "node:fs";

const trigger = process.env.EVENTFOLD_TEST_CRASH_FILE;
if (!Bun.isMainThread && trigger) {
  const timer = setInterval(() => {
    if (!existsSync(trigger)) return;
    clearInterval(timer);
    throw new Error("the read side's thread crashed (test/support/crash-read-side.ts)");
  }, 20);
  timer.unref();
}
