import { afterAll } from "bun:test";
import { rmSync } from "node:fs";
import { chdbPath } from "./config.ts";

// Preloaded by bunfig.toml, so this runs once after every test file of the run (`process.on("exit")`
// does not fire under `bun test`).
afterAll(() => rmSync(chdbPath, { recursive: true, force: true }));
