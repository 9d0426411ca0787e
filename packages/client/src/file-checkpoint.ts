import { readFile, rename, writeFile } from "node:fs/promises";
import type { Checkpoint } from "./checkpoint.js";

/**
 * A checkpoint in a file (Node, Bun and Deno): `{"position":N}`, replaced whole by a rename, so a
 * crash leaves the old position or the new one, never a torn file. It is kept apart from the
 * handler's effects, so a crash between the two hands the last event over again (at least once).
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
