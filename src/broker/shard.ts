/** FNV-1a: cheap, stable across processes and versions, and spreads similar ids well. */
export const shardOf = (streamId: string, shards: number): number => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < streamId.length; i++) {
    hash ^= streamId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
};
