/**
 * Preloaded into a spawned service (`bun --preload`): as it exits, writes the paths of every module
 * it loaded to `EVENTFOLD_LOADED_MODULES_FILE`, so that a test can tell what a setting made it load.
 */
import { writeFileSync } from "node:fs";

const file = process.env.EVENTFOLD_LOADED_MODULES_FILE;
// The main thread's registry only: a thread the service starts is given its preloads too.
if (file && Bun.isMainThread) {
  process.on("exit", () => writeFileSync(file, JSON.stringify(Object.keys(require.cache))));
}
