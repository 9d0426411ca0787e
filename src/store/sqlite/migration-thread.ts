/**
 * The migration's thread: a file of an earlier format is rewritten here, so that the event loop that
 * answers "starting" (503) to every request keeps answering while it runs.
 */
import { openDatabase } from "./writer.ts";

declare const self: Worker;

export type MigrationMessage =
  | { readonly kind: "progress"; readonly done: number; readonly total: number }
  | { readonly kind: "done" }
  | { readonly kind: "failed"; readonly message: string; readonly name: string };

self.onmessage = (event: MessageEvent<{ path: string }>) => {
  const tell = (message: MigrationMessage) => self.postMessage(message);
  try {
    openDatabase(event.data.path, (done, total) => tell({ kind: "progress", done, total })).close();
    tell({ kind: "done" });
  } catch (error) {
    const { message, name } = error instanceof Error ? error : new Error(String(error));
    tell({ kind: "failed", message, name });
  }
};
