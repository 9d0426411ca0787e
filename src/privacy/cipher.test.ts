import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { StartupError } from "../lib/errors.ts";
import {
  KeyUnwrapError,
  newDataKey,
  openValue,
  SealedValueError,
  sealValue,
  unwrapKey,
  wrapKey,
} from "./cipher.ts";
import { loadMasterKey } from "./master-key.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** The sealed text with one byte of its iv‖ciphertext‖tag flipped. */
const flipped = (sealed: string, at: number): string => {
  const bytes = Buffer.from(sealed, "base64url");
  bytes[at % bytes.length] = (bytes[at % bytes.length] ?? 0) ^ 0x01;
  return bytes.toString("base64url");
};

describe("sealed values", () => {
  test("any JSON value opens back to what JSON makes of it, under the same key and AAD", () => {
    const key = newDataKey();
    fc.assert(
      fc.property(fc.jsonValue(), fc.string(), (value, aad) => {
        const sealed = sealValue(key, aad, value);
        expect(sealed).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(openValue(key, aad, sealed)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 500 },
    );
  });

  test("each sealing is new: the same value twice gives two texts (a fresh IV each)", () => {
    const key = newDataKey();
    const texts = new Set(Array.from({ length: 100 }, () => sealValue(key, "a", "Zoë")));
    expect(texts.size).toBe(100);
    // iv (12) + JSON `"Zoë"` (6 bytes of UTF-8) + tag (16), base64url without padding.
    expect([...texts][0]).toHaveLength(Math.ceil(((12 + 6 + 16) * 4) / 3));
  });

  test("a flipped byte anywhere, a wrong AAD or a wrong key: SealedValueError", () => {
    const key = newDataKey();
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(), (value, at) => {
        const sealed = sealValue(key, "event-1/owner", value);
        expect(() => openValue(key, "event-1/owner", flipped(sealed, at))).toThrow(SealedValueError);
      }),
      { numRuns: 300 },
    );
    const sealed = sealValue(key, "event-1/owner", { name: "Zoë" });
    expect(() => openValue(key, "event-2/owner", sealed)).toThrow(SealedValueError);
    expect(() => openValue(newDataKey(), "event-1/owner", sealed)).toThrow(SealedValueError);
  });

  test("text that is not a sealed value's exact encoding: SealedValueError", () => {
    const key = newDataKey();
    const sealed = sealValue(key, "a", 42);
    for (const bad of [
      "",
      "AAAA",
      `${sealed}=`,
      `${sealed.slice(0, 10)}*${sealed.slice(10)}`,
      sealed.slice(0, -2),
    ])
      expect(() => openValue(key, "a", bad)).toThrow(SealedValueError);
    // 12 + 1 + 16 bytes: the last character carries 2 spare bits. With one of them changed, Node
    // decodes the same bytes, but it is not the text that was sealed.
    const odd = sealValue(key, "a", 4);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const twin = `${odd.slice(0, -1)}${alphabet[alphabet.indexOf(odd.at(-1) ?? "") ^ 1]}`;
    expect(Buffer.from(twin, "base64url").equals(Buffer.from(odd, "base64url"))).toBe(true);
    expect(openValue(key, "a", odd)).toBe(4);
    expect(() => openValue(key, "a", twin)).toThrow(SealedValueError);
  });

  test("keys must be 32 bytes; a value must be one JSON can hold", () => {
    expect(() => sealValue(new Uint8Array(16), "a", 1)).toThrow(RangeError);
    expect(() => openValue(new Uint8Array(33), "a", "x")).toThrow(RangeError);
    expect(() => sealValue(newDataKey(), "a", undefined)).toThrow(TypeError);
    expect(newDataKey()).toHaveLength(32);
    expect(hex(newDataKey())).not.toBe(hex(newDataKey()));
  });
});

describe("wrapped subject keys", () => {
  test("a key wrapped for a subject unwraps for that subject under the same master key", () => {
    const master = newDataKey();
    fc.assert(
      fc.property(fc.string(), (subjectId) => {
        const key = newDataKey();
        const wrapped = wrapKey(master, subjectId, key);
        expect(wrapped).toHaveLength(12 + 32 + 16);
        expect(hex(unwrapKey(master, subjectId, wrapped))).toBe(hex(key));
      }),
    );
  });

  test("another subject, another master key, a flipped byte or cut bytes: KeyUnwrapError", () => {
    const master = newDataKey();
    const key = newDataKey();
    const wrapped = wrapKey(master, "account-1", key);
    expect(() => unwrapKey(master, "account-2", wrapped)).toThrow(KeyUnwrapError);
    // The separator: "account-1" is not "account-" followed by "1" of a longer prefix.
    expect(() => unwrapKey(master, "account-1\u0000", wrapped)).toThrow(KeyUnwrapError);
    expect(() => unwrapKey(newDataKey(), "account-1", wrapped)).toThrow(KeyUnwrapError);
    for (let at = 0; at < wrapped.length; at++) {
      const tampered = new Uint8Array(wrapped);
      tampered[at] = (tampered[at] ?? 0) ^ 0x80;
      expect(() => unwrapKey(master, "account-1", tampered)).toThrow(KeyUnwrapError);
    }
    expect(() => unwrapKey(master, "account-1", wrapped.subarray(0, 59))).toThrow(KeyUnwrapError);
    expect(() => unwrapKey(master, "account-1", new Uint8Array(0))).toThrow(KeyUnwrapError);
    expect(() => unwrapKey(master, "account-1", wrapped)).not.toThrow();
  });

  test("master and subject keys must be 32 bytes", () => {
    expect(() => wrapKey(new Uint8Array(31), "s", newDataKey())).toThrow(RangeError);
    expect(() => wrapKey(newDataKey(), "s", new Uint8Array(16))).toThrow(RangeError);
    expect(() => unwrapKey(new Uint8Array(64), "s", new Uint8Array(60))).toThrow(RangeError);
  });
});

describe("loadMasterKey", () => {
  const dir = join(tmpdir(), `eventfold-master-key-${process.pid}-${Date.now().toString(36)}`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("made on first start, in a directory it makes, owner-only (0600); read back the same after", () => {
    const path = join(dir, "new", "data", "master.key");
    const made = loadMasterKey(undefined, path);
    expect(made).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8")).toBe(`${Buffer.from(made).toString("base64url")}\n`);
    expect(hex(loadMasterKey(undefined, path))).toBe(hex(made));
    expect(hex(loadMasterKey("", path))).toBe(hex(made));
  });

  test("processes starting at once on a new data directory all load the one key that was made", async () => {
    const path = join(dir, "raced", "master.key");
    const script = `
      const { loadMasterKey } = await import(${JSON.stringify(join(import.meta.dir, "master-key.ts"))});
      console.log(Buffer.from(loadMasterKey(undefined, ${JSON.stringify(path)})).toString("hex"));
    `;
    const keys = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
        const text = await new Response(child.stdout).text();
        expect(await child.exited).toBe(0);
        return text.trim();
      }),
    );
    expect(new Set(keys)).toEqual(new Set([hex(loadMasterKey(undefined, path))]));
  });

  test("a key file that others may read is refused", () => {
    const path = join(dir, "open", "master.key");
    loadMasterKey(undefined, path);
    chmodSync(path, 0o644);
    expect(() => loadMasterKey(undefined, path)).toThrow(StartupError);
    expect(() => loadMasterKey(undefined, path)).toThrow(/chmod 600/);
  });

  test("a key file that holds no key is refused, its text not repeated", () => {
    mkdirSync(join(dir, "bad"), { recursive: true });
    const path = join(dir, "bad", "master.key");
    const text = Buffer.from(newDataKey().subarray(0, 31)).toString("base64url");
    writeFileSync(path, `${text}\n`, { mode: 0o600 });
    const error = (() => {
      try {
        loadMasterKey(undefined, path);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(StartupError);
    expect(String((error as Error).message)).not.toContain(text);
  });

  test("a configured key is taken as it is; one not of exactly 32 bytes is refused without being printed", () => {
    const key = newDataKey();
    const text = Buffer.from(key).toString("base64url");
    expect(hex(loadMasterKey(text, join(dir, "unused", "master.key")))).toBe(hex(key));
    expect(hex(loadMasterKey(`  ${text}\n`, join(dir, "unused", "master.key")))).toBe(hex(key));
    const wrong = [
      Buffer.from(crypto.getRandomValues(new Uint8Array(31))).toString("base64url"),
      Buffer.from(crypto.getRandomValues(new Uint8Array(33))).toString("base64url"),
      Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64"),
      Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex"),
      `${text.slice(0, 42)}*`,
      "correct horse battery staple",
    ];
    for (const configured of wrong) {
      let caught: unknown;
      try {
        loadMasterKey(configured, join(dir, "unused", "master.key"));
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(StartupError);
      const message = (caught as Error).message;
      expect(message).toContain("EVENTFOLD_MASTER_KEY");
      expect(message).toContain("32");
      expect(message).not.toContain(configured);
      expect(message).not.toContain(configured.slice(0, 12));
    }
  });
});
