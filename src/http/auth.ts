import { createHash, timingSafeEqual } from "node:crypto";
import type { ApiKey, Role } from "../config.ts";

export interface Principal {
  readonly name: string;
  readonly role: Role;
}

const rank: Record<Role, number> = { reader: 1, writer: 2, admin: 3 };

export const mayCall = (role: Role, required: Role): boolean => rank[role] >= rank[required];

const digest = (token: string) => createHash("sha256").update(token).digest();

/**
 * Resolves a bearer token to its principal. Tokens are compared as SHA-256 digests (equal length) with
 * `timingSafeEqual`, and every key is compared, so timing tells nothing about which or how much matched.
 */
export const createAuthenticator = (keys: readonly ApiKey[]) => {
  const known = keys.map((key) => ({
    principal: { name: key.name, role: key.role },
    digest: digest(key.token),
  }));
  return (authorization: string | undefined): Principal | undefined => {
    // The scheme is case-insensitive (RFC 9110); the token is not.
    const match = /^Bearer +([\x21-\x7e]+)$/i.exec(authorization ?? "");
    if (!match?.[1]) return undefined;
    const presented = digest(match[1]);
    let found: Principal | undefined;
    for (const key of known) if (timingSafeEqual(key.digest, presented)) found = key.principal;
    return found;
  };
};
