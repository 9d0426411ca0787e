import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { StartupError } from "../lib/errors.ts";
import { toHex } from "./merkle.ts";

/** The text a tree head's signature covers (`../shared/API.md`, Ledger). */
export const headText = (treeSize: number, rootHash: string, timestamp: string, keyId: string): string =>
  `eventfold.head.v1 ${treeSize} ${rootHash} ${timestamp} ${keyId}`;

export const base64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");
export const fromBase64url = (text: string): Uint8Array<ArrayBuffer> =>
  new Uint8Array(Buffer.from(text, "base64url"));

/** The key that signs tree heads, and what a verifier needs of it. */
export interface SigningKey {
  /** The first 16 hex digits of the SHA-256 of the raw public key. */
  readonly keyId: string;
  /** The raw 32 bytes, base64url. */
  readonly publicKey: string;
  sign(text: string): Promise<string>;
}

/** PKCS#8's fixed prefix before an Ed25519 private key's 32-byte seed (RFC 8410). */
const seedPrefix = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/** The key's PKCS#8 bytes, from either form a setting may hold: a 32-byte seed or PKCS#8 itself. */
const pkcs8Of = (bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> =>
  bytes.length === 32 ? new Uint8Array([...seedPrefix, ...bytes]) : bytes;

/** The first 16 hex digits of the SHA-256 of a raw public key (base64url), as heads name their key. */
export const keyIdOf = (publicKey: string): string =>
  toHex(createHash("sha256").update(fromBase64url(publicKey)).digest()).slice(0, 16);

const fromPkcs8 = async (pkcs8: Uint8Array<ArrayBuffer>, where: string): Promise<SigningKey> => {
  let privateKey: CryptoKey;
  try {
    privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  } catch (error) {
    throw new StartupError(
      `${where} is not an Ed25519 private key (base64url of its 32-byte seed or of its PKCS#8 form): ${(error as Error).message}`,
    );
  }
  // WebCrypto derives no public key from a private one; its JWK form carries both.
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  if (typeof jwk.x !== "string") throw new StartupError(`${where}: no public key could be derived`);
  const raw = fromBase64url(jwk.x);
  return {
    keyId: keyIdOf(base64url(raw)),
    publicKey: base64url(raw),
    sign: async (text) =>
      base64url(
        new Uint8Array(
          await crypto.subtle.sign({ name: "Ed25519" }, privateKey, new TextEncoder().encode(text)),
        ),
      ),
  };
};

/**
 * The signing key: the configured one (`EVENTFOLD_LEDGER_SIGNING_KEY`), or else the one kept at `path`
 * (the data directory), made on first start. The file is the key's PKCS#8 form, base64url, readable by
 * its owner only: one that others may read is refused, as ssh refuses such a key, since whoever reads
 * it can sign heads.
 */
export const loadSigningKey = async (configured: string | undefined, path: string): Promise<SigningKey> => {
  if (configured) return fromPkcs8(pkcs8Of(fromBase64url(configured.trim())), "EVENTFOLD_LEDGER_SIGNING_KEY");
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new StartupError(
        `${path} holds the ledger's signing key and others may read it (mode ${mode.toString(8)}): chmod 600 it`,
      );
    }
    return fromPkcs8(fromBase64url(readFileSync(path, "utf8").trim()), path);
  }
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const privateKey = "privateKey" in pair ? (pair.privateKey as CryptoKey) : undefined;
  if (!privateKey) throw new Error("WebCrypto made no Ed25519 key pair");
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", privateKey));
  mkdirSync(dirname(path), { recursive: true });
  // `wx`: two processes starting on one data directory at once do not both make one.
  try {
    writeFileSync(path, `${base64url(pkcs8)}\n`, { mode: 0o600, flag: "wx" });
  } catch (error) {
    if ((error as { code?: string }).code !== "EEXIST") throw error;
    return loadSigningKey(undefined, path);
  }
  chmodSync(path, 0o600);
  return fromPkcs8(pkcs8, path);
};
