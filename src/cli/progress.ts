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
  let last: [number, number] | undefined;
  const line = (done: number, total: number) => {
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * WIDTH);
    const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
    return `${label} [${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}% ${done}/${total} ${seconds}s`;
  };
  return {
    update(done, total) {
      last = [done, total];
      if (stream.isTTY) {
        stream.write(`\r${line(done, total)}`);
        drawn = true;
        return;
      }
      // While the total is not known (0), there is no tenth to report: a line at the end says it.
      if (total <= 0) return;
      const tenth = Math.floor(Math.min(1, done / total) * 10);
      if (tenth > lastTenth) {
        lastTenth = tenth;
        stream.write(`${line(done, total)}\n`);
      }
    },
    finish(message) {
      if (drawn) stream.write("\n");
      else if (lastTenth < 10 && last) stream.write(`${line(last[0], last[1])}\n`);
      if (message) stream.write(`${label}: ${message}\n`);
    },
  };
};
