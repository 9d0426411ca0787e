import { describe, expect, test } from "bun:test";
import { ROOT_CONTEXT, SpanKind } from "@opentelemetry/api";
import { SamplingDecision } from "@opentelemetry/sdk-trace";
import { samplerFrom } from "./otlp-tracing.ts";

/** The share of 2 000 new traces (no parent) a sampler keeps. */
const keptShare = (env: Record<string, string>) => {
  const sampler = samplerFrom(env);
  let kept = 0;
  for (let i = 0; i < 2_000; i++) {
    const traceId = crypto.getRandomValues(new Uint8Array(16)).toHex();
    const { decision } = sampler.shouldSample(ROOT_CONTEXT, traceId, "request", SpanKind.SERVER, {}, []);
    if (decision === SamplingDecision.RECORD_AND_SAMPLED) kept++;
  }
  return kept / 2_000;
};

describe("OTEL_TRACES_SAMPLER", () => {
  test("unset: every trace; always_off: none", () => {
    expect(keptShare({})).toBe(1);
    expect(keptShare({ OTEL_TRACES_SAMPLER: "always_off" })).toBe(0);
  });

  test("parentbased_traceidratio keeps about the share asked for", () => {
    const share = keptShare({
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.25",
    });
    expect(share).toBeGreaterThan(0.18);
    expect(share).toBeLessThan(0.32);
  });

  test("a share that is not one from 0 to 1 keeps every trace", () => {
    expect(keptShare({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "lots" })).toBe(1);
  });
});
