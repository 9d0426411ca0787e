import type { Progress } from "../../src/cli/progress.ts";

/** Opens `count` accounts `<prefix><i>`, each with a large deposit (so transfers rarely bounce). */
export const seedAccounts = async (
  url: string,
  prefix: string,
  count: number,
  progress: Progress,
  concurrency = 64,
): Promise<void> => {
  let next = 0;
  let done = 0;
  const post = async (path: string, body: unknown) => {
    const response = await fetch(url + path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    await response.arrayBuffer();
    if (response.status >= 300 && response.status !== 409) {
      throw new Error(`seeding ${path}: ${response.status}`);
    }
  };
  const worker = async () => {
    while (next < count) {
      const id = `${prefix}${next++}`;
      await post("/v1/accounts", { accountId: id, owner: "bench", currency: "EUR" });
      await post(`/v1/accounts/${id}/deposits`, { amount: 1_000_000_000 });
      if (++done % 500 === 0 || done === count) progress.update(done, count);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  progress.finish();
};
