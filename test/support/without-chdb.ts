import { plugin } from "bun";

/**
 * Preloaded (`bun --preload`) to run the service as the slim image does: without chDB's native
 * library, whose loading fails as a missing module does.
 */
plugin({
  name: "without chDB",
  setup(build) {
    build.onLoad({ filter: /node_modules\/chdb\// }, () => {
      throw new Error("Cannot find module '@chdb/linux-x64-gnu'");
    });
  },
});
