/**
 * The answers of the API the console reads: the types generated from the OpenAPI document the service
 * serves at `GET /openapi.json` (`npm run contract:generate` writes them), so that a change to an answer
 * is a type error here rather than a page that quietly shows less. The page is served by the process
 * whose API it calls, so the two agree.
 */
import type { components } from "../../../../packages/client/src/schema.ts";

type Schemas = components["schemas"];

export type Problem = Schemas["Problem"];
export type RebuildProgress = Schemas["RebuildProgress"];
export type ProjectionList = Schemas["Projections"];
export type ProjectionStatus = ProjectionList["projections"][number];
/** The answer to pause and resume. */
export type ProjectionState = Schemas["ProjectionState"];
export type RebuildStarted = Schemas["RebuildStarted"];
export type Envelope = Schemas["EventEnvelope"];
export type DeadLetterList = Schemas["DeadLetters"];
export type DeadLetter = DeadLetterList["deadLetters"][string][number];
export type Replayed = Schemas["Replayed"];
export type Discarded = Schemas["Discarded"];
export type EventsPage = Schemas["EventsPage"];

/**
 * An account's or a transfer's state as read: its fields, and the version it is at. The schema has one
 * per resource; the page reads any of them alike.
 */
export type StateView = Readonly<Record<string, unknown>> & { readonly version: number };
