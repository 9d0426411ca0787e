import { type Aggregate, type Message, streamIdOf } from "../aggregate.ts";
import type { EventEnvelope } from "../store/envelope.ts";
import type { EventStore, ReadStreamOptions } from "../store/event-store.ts";
import type { OutcomeStore } from "../store/outcome-store.ts";
import type { ActorSystem, AggregateView } from "./actor-system.ts";
import { type CommandRequest, type CommandResult, fromStored } from "./command.ts";
import { fold } from "./fold.ts";
import type { ProcessManager, ProcessRunner } from "./process-runner.ts";

/**
 * What the engine offers domain code (routes and processes): commands in, outcomes out, and reads.
 * Nothing here knows HTTP; nothing here hands out the store or the actors themselves.
 */
export interface DomainApi {
  readonly commands: Commands;
  readonly queries: Queries;
  readonly processes: Processes;
}

export interface Commands {
  /**
   * Sends a command to the actor that owns its aggregate. With an idempotency key, a key that holds
   * an outcome already gets that outcome back (`replayed`), or a `key_reused` refusal if the request
   * differs; nothing is decided again.
   */
  send<S, C extends Message, E extends Message>(
    aggregate: Aggregate<S, C, E>,
    id: string,
    request: CommandRequest<C>,
  ): Promise<CommandResult<S>>;
}

export type { AggregateView };

export interface Queries {
  /** The aggregate's last durable state, as its actor holds it. */
  current<S, C extends Message, E extends Message>(
    aggregate: Aggregate<S, C, E>,
    id: string,
  ): Promise<AggregateView<S>>;
  /** The aggregate as it was right after event `upTo` (default: its last), folded from the store. */
  asOf<S, C extends Message, E extends Message>(
    aggregate: Aggregate<S, C, E>,
    id: string,
    upTo?: number,
  ): Promise<AggregateView<S>>;
  /** The aggregate's events, in version order. */
  events(
    aggregate: { readonly type: string },
    id: string,
    options?: ReadStreamOptions,
  ): Promise<EventEnvelope[]>;
}

export interface Processes {
  /** Runs a process instance in the background until it is final (once per id at a time). */
  start(process: ProcessManager<DomainApi>, id: string): void;
}

/** Folds a stream from its first event up to `upTo` (inclusive). */
const foldStream = async <S, C extends Message, E extends Message>(
  store: EventStore,
  aggregate: Aggregate<S, C, E>,
  id: string,
  upTo?: number,
): Promise<AggregateView<S>> => {
  let state = aggregate.initialState;
  let version = 0;
  let updatedAt: string | undefined;
  const streamId = streamIdOf(aggregate.type, id);
  const page = 1000;
  for (;;) {
    const events = await store.readStream(streamId, { after: version, upTo, limit: page });
    state = fold(aggregate, state, events);
    version = events.at(-1)?.version ?? version;
    updatedAt = events.at(-1)?.time ?? updatedAt;
    if (events.length < page) return { state, version, updatedAt };
  }
};

export const createDomainApi = (
  store: EventStore & OutcomeStore,
  actors: ActorSystem,
  runner: ProcessRunner<DomainApi>,
): DomainApi => ({
  commands: {
    async send(aggregate, id, request) {
      const idem = request.idempotency;
      const stored = idem && (await store.findOutcome(idem.key));
      if (stored && idem) return fromStored(stored, idem.fingerprint);
      return actors.dispatch(aggregate, id, request);
    },
  },
  queries: {
    current: (aggregate, id) => actors.view(aggregate, id),
    asOf: (aggregate, id, upTo) => foldStream(store, aggregate, id, upTo),
    events: (aggregate, id, options) => store.readStream(streamIdOf(aggregate.type, id), options),
  },
  processes: {
    start: (process, id) => void runner.start(process, id),
  },
});
