import Redis from "ioredis";
import type { HotDocument, HotLookup, VersionedWrite, WriteResult } from "./hot-lookup.ts";

/**
 * Compare-and-set on the version, in one atomic step on the server (the rule of `statusOver`):
 * KEYS[1] the document; ARGV[1] the new version; ARGV[2] the first version it covers; ARGV[3..]
 * field, value, field, value...
 * Returns {1, v} applied, {0, current} duplicate, {-1, current} gap.
 */
const applyVersioned = `
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local version = tonumber(ARGV[1])
if version <= current then return {0, current} end
if tonumber(ARGV[2]) - 1 > current then return {-1, current} end
redis.call('HSET', KEYS[1], 'version', ARGV[1], unpack(ARGV, 3))
return {1, version}
`;

/** KEYS[1] the document; ARGV field, value, …: set only if the document exists (its version kept). */
const overwriteExisting = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return 0
`;

type RedisWithScript = Redis & {
  overwriteExisting(key: string, ...fieldsAndValues: string[]): Promise<number>;
  applyVersioned(
    key: string,
    version: number,
    from: number,
    ...fieldsAndValues: string[]
  ): Promise<[number, number]>;
};

const statusOf = (code: number): WriteResult["status"] =>
  code === 1 ? "applied" : code === 0 ? "duplicate" : "gap";

/** Redis: one hash per document, written only through the Lua script above, pipelined per batch. */
export class RedisHotLookup implements HotLookup {
  readonly name = "redis";
  private readonly redis: RedisWithScript;

  constructor(url: string, onError: (error: unknown) => void = () => {}) {
    const redis = new Redis(url, {
      maxRetriesPerRequest: 20,
      enableAutoPipelining: true,
      lazyConnect: false,
    });
    // ioredis reconnects by itself; without a listener every failed attempt is printed as unhandled.
    let reported = false;
    redis.on("error", (error) => {
      if (!reported) onError(error);
      reported = true;
    });
    redis.on("ready", () => {
      reported = false;
    });
    redis.defineCommand("applyVersioned", { numberOfKeys: 1, lua: applyVersioned });
    redis.defineCommand("overwriteExisting", { numberOfKeys: 1, lua: overwriteExisting });
    this.redis = redis as RedisWithScript;
  }

  async applyMany(writes: readonly VersionedWrite[]): Promise<WriteResult[]> {
    if (writes.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const write of writes) {
      const args = Object.entries(write.fields).flat();
      (pipeline as unknown as RedisWithScript).applyVersioned(
        write.key,
        write.version,
        write.from ?? write.version,
        ...args,
      );
    }
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, reply]) => {
      if (error) throw error;
      const [code, current] = reply as [number, number];
      return { status: statusOf(code), current };
    });
  }

  async overwrite(key: string, fields: Readonly<Record<string, string>>): Promise<void> {
    const args = Object.entries(fields).flat();
    if (args.length > 0) await this.redis.overwriteExisting(key, ...args);
  }

  async get(key: string): Promise<HotDocument | undefined> {
    const document = await this.redis.hgetall(key);
    return Object.keys(document).length > 0 ? document : undefined;
  }

  /** Polls: cheap against Redis, and needs no subscription per waiting reader. */
  async waitForVersion(key: string, minVersion: number, timeoutMs: number): Promise<HotDocument | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const version = Number((await this.redis.hget(key, "version")) ?? 0);
      if (version >= minVersion) return this.get(key);
      if (Date.now() >= deadline) return undefined;
      await Bun.sleep(Math.min(10, Math.max(1, deadline - Date.now())));
    }
  }

  async any(prefix: string): Promise<boolean> {
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      if (keys.length > 0) return true;
      cursor = next;
    } while (cursor !== "0");
    return false;
  }

  async clear(prefix: string): Promise<void> {
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      if (keys.length > 0) await this.redis.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    // QUIT waits for pending replies; a connection that never came up has none worth waiting for.
    if (this.redis.status === "ready") await this.redis.quit();
    else this.redis.disconnect();
  }
}
