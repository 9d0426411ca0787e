import { z } from "zod";

/** A stored event as the API shows it (`EventEnvelope` of the store). */
export const Envelope = z
  .strictObject({
    eventId: z.string(),
    streamId: z.string().describe("<aggregateType>-<id>"),
    aggregateType: z.string(),
    type: z.string(),
    version: z.int().min(1).describe("Its number in its stream, 1-based"),
    schemaVersion: z.int().min(1),
    time: z.iso.datetime().describe("When it was stored"),
    data: z.record(z.string(), z.unknown()),
    metadata: z
      .strictObject({
        commandId: z.string(),
        correlationId: z.string(),
        causationId: z.string(),
        idempotencyKey: z.string().optional().describe("caller:<api key name>:<key>, or process:…"),
        traceparent: z.string().optional(),
        issuedAt: z.iso
          .datetime()
          .optional()
          .describe("When the engine took the command: the time its rules saw; absent on older events"),
      })
      .describe("Who caused it, and why"),
    position: z.int().min(1).describe("Its place in the store's global commit order"),
    erased: z
      .array(z.string())
      .optional()
      .describe(
        "The personal fields of `data` that read `[erased]`, their data subject having been erased; absent otherwise",
      ),
  })
  .meta({ id: "EventEnvelope" });
