/**
 * Lints the Dockerfile with dockerfile-utils (the linter behind VS Code's Docker support) and fails
 * on a warning as on an error: its own exit code counts errors only.
 */
const proc = Bun.spawn(["dockerfile-utils", "lint", "Dockerfile"], { stdout: "pipe", stderr: "inherit" });
const [report, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
if (report.trim() !== "" || code !== 0) {
  console.error(report.trim() || `dockerfile-utils exited with ${code}`);
  process.exit(1);
}
console.log("Dockerfile: no problems");

export {};
