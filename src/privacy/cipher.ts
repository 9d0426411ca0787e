import { createCipheriv, createDecipheriv } from "node:crypto";

/**
 * AES-256-GCM, the one cipher of crypto-shredding: a master key wraps each data subject's key, and a
 * subject's key seals its personal values. Synchronous (`node:crypto`'s cipher objects): sealing and
 * opening are on the hot path of every event with personal data, and a few microseconds of CPU are
 * cheaper than a trip through the event loop. Every output is iv‖ciphertext‖tag: a random 12-byte IV
 * (safe for 2^32 messages under one key, NIST SP 800-38D: far more than one subject's values, or than
 * the subjects one master key wraps) and a full 16-byte tag.
 */
const algorithm = "aes-256-gcm";
const ivBytes = 12;
const tagBytes = 16;
const keyBytes = 32;
const encoder = new TextEncoder();

/** A wrapped subject key does not unwrap: wrong master key, bytes altered, or another subject's. */
export class KeyUnwrapError extends Error {
  override readonly name: string = "KeyUnwrapError";
}

/** A sealed value does not open: wrong key, wrong AAD, or text altered or not a sealed value at all. */
export class SealedValueError extends Error {
  override readonly name: string = "SealedValueError";
}

const checkKey = (key: Uint8Array, what: string): void => {
  if (key.length !== keyBytes) throw new RangeError(`${what} must be ${keyBytes} bytes, not ${key.length}`);
};

/** The subject id is bound into the wrapping, so a wrapped key copied to another subject does not unwrap. */
const subjectAad = (subjectId: string): Uint8Array =>
  encoder.encode(`eventfold.subject-key.v1\u0000${subjectId}`);

const seal = (key: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array => {
  const iv = crypto.getRandomValues(new Uint8Array(ivBytes));
  const cipher = createCipheriv(algorithm, key, iv, { authTagLength: tagBytes });
  cipher.setAAD(aad);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  const out = new Uint8Array(ivBytes + head.length + tail.length + tagBytes);
  out.set(iv, 0);
  out.set(head, ivBytes);
  out.set(tail, ivBytes + head.length);
  out.set(cipher.getAuthTag(), ivBytes + head.length + tail.length);
  return out;
};

/** The plaintext, or undefined when the tag does not check (whatever the reason: GCM cannot tell). */
const open = (key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined => {
  if (sealed.length < ivBytes + tagBytes) return undefined;
  // `authTagLength` fixes the tag's length: without it a shortened tag would be accepted.
  const decipher = createDecipheriv(algorithm, key, sealed.subarray(0, ivBytes), { authTagLength: tagBytes });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - tagBytes));
  try {
    const head = decipher.update(sealed.subarray(ivBytes, sealed.length - tagBytes));
    const tail = decipher.final();
    const out = new Uint8Array(head.length + tail.length);
    out.set(head, 0);
    out.set(tail, head.length);
    return out;
  } catch {
    return undefined;
  }
};

/** A new subject key: 32 random bytes. */
export const newDataKey = (): Uint8Array => crypto.getRandomValues(new Uint8Array(keyBytes));

/** The subject's key encrypted under the master key, bound to the subject: iv‖ciphertext‖tag (60 bytes). */
export const wrapKey = (master: Uint8Array, subjectId: string, dataKey: Uint8Array): Uint8Array => {
  checkKey(master, "a master key");
  checkKey(dataKey, "a subject key");
  return seal(master, subjectAad(subjectId), dataKey);
};

/** The inverse of `wrapKey`, for the same master key and subject; else `KeyUnwrapError`. */
export const unwrapKey = (master: Uint8Array, subjectId: string, wrapped: Uint8Array): Uint8Array => {
  checkKey(master, "a master key");
  const key = open(master, subjectAad(subjectId), wrapped);
  if (key?.length !== keyBytes) {
    // The subject id stays out of the message: messages are logged, and an id may say who it is.
    throw new KeyUnwrapError(
      "a subject's key does not unwrap: another master key, another subject's key, or altered bytes",
    );
  }
  return key;
};

/**
 * `value` as JSON (UTF-8), encrypted under a subject's key: base64url without padding of
 * iv‖ciphertext‖tag. `aad` binds it to where it belongs (say, the event and field), so a sealed value
 * copied elsewhere does not open there.
 */
export const sealValue = (dataKey: Uint8Array, aad: string, value: unknown): string => {
  checkKey(dataKey, "a subject key");
  const json = JSON.stringify(value);
  // `undefined`, a function or a symbol: JSON has no text for them, and nothing could be opened back.
  if (json === undefined)
    throw new TypeError(`a sealed value must be one JSON can hold, not ${typeof value}`);
  return Buffer.from(seal(dataKey, encoder.encode(aad), encoder.encode(json))).toString("base64url");
};

/** The inverse of `sealValue`, for the same key and `aad`; else `SealedValueError`. */
export const openValue = (dataKey: Uint8Array, aad: string, sealed: string): unknown => {
  checkKey(dataKey, "a subject key");
  const bytes = Buffer.from(sealed, "base64url");
  // Node's decoder skips characters it does not know and ignores a last character's spare bits, so
  // only text that is exactly the encoding of its bytes is taken: nothing outside what was sealed.
  const plaintext =
    bytes.toString("base64url") === sealed ? open(dataKey, encoder.encode(aad), bytes) : undefined;
  if (!plaintext) {
    throw new SealedValueError("a sealed value does not open: another key or AAD, or altered text");
  }
  return JSON.parse(Buffer.from(plaintext).toString("utf8"));
};
