import { describe, expect, test } from "bun:test";
import { ROOT_CONTEXT, SpanKind } from "@opentelemetry/api";
import { SamplingDecision } from "@opentelemetry/sdk-trace";
import { samplerFrom } from "./otlp-tracing.ts";

/** The share of 2 000 new traces (no parent) a sampler keeps. */
const keptShare = (choice?: { kind: string; ratio: number }) => {
  const sampler = samplerFrom(choice);
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
    expect(keptShare()).toBe(1);
    expect(keptShare({ kind: "always_off", ratio: 1 })).toBe(0);
  });

  test("parentbased_traceidratio keeps about the share asked for", () => {
    const share = keptShare({ kind: "parentbased_traceidratio", ratio: 0.25 });
    expect(share).toBeGreaterThan(0.18);
    expect(share).toBeLessThan(0.32);
  });
});
