/**
 * The container's health check: healthy while this process's service is ready (`GET /readyz` is 2xx
 * on `PORT`). Exit 0 or 1, as Docker's HEALTHCHECK reads it; a service that does not answer within
 * 4 s is unhealthy.
 */
const port = process.env.PORT ?? "3000";
try {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(4_000) });
  process.exit(response.ok ? 0 : 1);
} catch {
  process.exit(1);
}

export {};
