import { readFile, rename, writeFile } from "node:fs/promises";
import type { Checkpoint } from "./checkpoint.js";

/**
 * A checkpoint in a file (Node, Bun and Deno): `{"position":N}`, replaced whole by a rename, so a
 * process that is killed leaves the old position or the new one, never a torn file. There is no
 * fsync: after a power loss the position may be older, which costs events handed over again, the
 * way a checkpoint kept apart from the handler's effects always can (at least once).
 */
export const fileCheckpoint = (path: string): Checkpoint => {
  const scratch = `${path}.next`;
  return {
    load: async () => {
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch (error) {
        if ((error as { code?: unknown }).code === "ENOENT") return undefined;
        throw error;
      }
      const position = (JSON.parse(text) as { position?: unknown }).position;
      if (typeof position !== "number" || !Number.isSafeInteger(position) || position < 0) {
        throw new Error(`${path} holds no checkpoint: ${text.slice(0, 80)}`);
      }
      return position;
    },
    save: async (position) => {
      await writeFile(scratch, `${JSON.stringify({ position })}\n`);
      await rename(scratch, path);
    },
  };
};
