import {
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { StartupError } from "../lib/errors.ts";

const keyBytes = 32;

/** The key's bytes if `text` is exactly base64url of 32 bytes (43 characters, no padding), else undefined. */
const parse = (text: string): Uint8Array | undefined => {
  if (!/^[A-Za-z0-9_-]{43}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64url");
  // The last character carries 2 spare bits: only their canonical value (zero) is a key's text.
  if (bytes.length !== keyBytes || bytes.toString("base64url") !== text) return undefined;
  return new Uint8Array(bytes);
};

const howToMake = "`openssl rand 32 | basenc --base64url | tr -d =`";

/** The file's text once its writer is done with it: the newline comes last, so it says the file is whole. */
const readWhole = (path: string): string => {
  for (let attempt = 1; ; attempt++) {
    const text = readFileSync(path, "utf8");
    // A process that won the race to create it may not have written it yet: a few milliseconds.
    if (text.endsWith("\n") || attempt >= 50) return text;
    Bun.sleepSync(10);
  }
};

const readKeyFile = (path: string): Uint8Array => {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new StartupError(
      `${path} holds the master key of personal data and others may read it (mode ${mode.toString(8)}): chmod 600 it`,
    );
  }
  const key = parse(readWhole(path).trim());
  if (!key) {
    // Never its text: it may be the key, one character off. Nor advice to delete it: every subject's
    // key is wrapped under it, and without it none of their data can be read again.
    throw new StartupError(
      `${path} does not hold a master key (base64url of 32 bytes and a newline): restore it from where it is kept safe`,
    );
  }
  return key;
};

/**
 * Makes the key file: `wx`, so that of two processes starting on one data directory at once only one
 * makes it (the other reads it); written and fsynced, file and directory, before the key is used, since
 * once a subject's key is wrapped under it and stored, losing it loses that subject's data.
 */
const createKeyFile = (path: string): Uint8Array | undefined => {
  const directory = dirname(path);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const key = crypto.getRandomValues(new Uint8Array(keyBytes));
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (error) {
    if ((error as { code?: string }).code === "EEXIST") return undefined;
    throw error;
  }
  try {
    // The umask only ever takes bits away; this makes sure of the owner's.
    fchmodSync(fd, 0o600);
    writeSync(fd, `${Buffer.from(key).toString("base64url")}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const dir = openSync(directory, "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  return key;
};

/**
 * The master key that wraps every data subject's key: the configured one (`EVENTFOLD_MASTER_KEY`,
 * base64url of 32 bytes), or else the one kept at `path` (in the data directory), made on first start.
 * The file is readable by its owner only: one that others may read is refused, as ssh refuses such a
 * key. Kept beside the data it is only as safe as the data directory; a deployment that means to erase
 * by destroying keys configures it from a secret store instead, and keeps it out of the data's backups.
 */
export const loadMasterKey = (configured: string | undefined, path: string): Uint8Array => {
  if (configured) {
    const key = parse(configured.trim());
    if (!key) {
      throw new StartupError(
        `EVENTFOLD_MASTER_KEY must be base64url of exactly 32 random bytes (43 characters, no padding; make one with ${howToMake})`,
      );
    }
    return key;
  }
  if (existsSync(path)) return readKeyFile(path);
  return createKeyFile(path) ?? readKeyFile(path);
};
