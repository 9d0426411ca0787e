/**
 * The migration's thread: a file of an earlier format is rewritten here, so that the event loop that
 * answers "starting" (503) to every request keeps answering while it runs.
 */
import { Database } from "bun:sqlite";
import { newDataKey, unwrapKey, wrapKey } from "../../privacy/cipher.ts";
import type { LegacySealing } from "../../privacy/legacy.ts";
import { type LegacyPersonalData, legacySubjects } from "./migrate.ts";
import { SqliteSubjectKeys } from "./subject-keys.ts";
import { openDatabase } from "./writer.ts";

declare const self: Worker;

export interface MigrationRequest {
  readonly path: string;
  readonly personal?: LegacyPersonalData;
}

export type MigrationMessage =
  | { readonly kind: "progress"; readonly done: number; readonly total: number }
  | { readonly kind: "done" }
  | { readonly kind: "failed"; readonly message: string; readonly name: string };

/** The keys of every data subject the file's events hold: made now for those that have none. */
const sealingOf = async (path: string, personal: LegacyPersonalData): Promise<LegacySealing> => {
  const types = Object.keys(personal.specs);
  const db = new Database(path, { readonly: true });
  let subjects: string[];
  try {
    db.exec("PRAGMA busy_timeout = 10000");
    subjects = legacySubjects(db, types);
  } finally {
    db.close();
  }
  const store = new SqliteSubjectKeys(personal.keysPath);
  try {
    const keys = new Map<string, Uint8Array>();
    const erased = new Set<string>();
    const stored = await store.keys(subjects, (id) => wrapKey(personal.masterKey, id, newDataKey()));
    for (const [id, key] of stored)
      if (key.state === "live") keys.set(id, unwrapKey(personal.masterKey, id, key.wrapped));
      else erased.add(id);
    return { specs: personal.specs, keys, erased };
  } finally {
    await store.close();
  }
};

self.onmessage = async (event: MessageEvent<MigrationRequest>) => {
  const tell = (message: MigrationMessage) => self.postMessage(message);
  try {
    const { path, personal } = event.data;
    const sealing = personal ? await sealingOf(path, personal) : undefined;
    openDatabase(path, (done, total) => tell({ kind: "progress", done, total }), sealing).close();
    tell({ kind: "done" });
  } catch (error) {
    const { message, name } = error instanceof Error ? error : new Error(String(error));
    tell({ kind: "failed", message, name });
  }
};
