/**
 * A progress bar on stderr: redrawn in place on a terminal, a line per tenth elsewhere (CI logs),
 * so stdout stays clean for what a command prints as its result.
 */
export interface Progress {
  update(done: number, total: number): void;
  finish(message?: string): void;
}

const WIDTH = 30;

export const progressBar = (label: string, stream: NodeJS.WriteStream = process.stderr): Progress => {
  const startedAt = performance.now();
  let lastTenth = -1;
  let drawn = false;
  const line = (done: number, total: number) => {
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * WIDTH);
    const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
    return `${label} [${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}% ${done}/${total} ${seconds}s`;
  };
  return {
    update(done, total) {
      if (stream.isTTY) {
        stream.write(`\r${line(done, total)}`);
        drawn = true;
        return;
      }
      const tenth = total > 0 ? Math.floor((done / total) * 10) : 10;
      if (tenth > lastTenth) {
        lastTenth = tenth;
        stream.write(`${line(done, total)}\n`);
      }
    },
    finish(message) {
      if (drawn) stream.write("\n");
      if (message) stream.write(`${label}: ${message}\n`);
    },
  };
};
