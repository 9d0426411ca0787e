/**
 * Where a subscription keeps its place in the log: the position of the last event its handler
 * applied. Loaded once when the subscription starts; saved after each event is handled.
 *
 * What "exactly once" needs is that the position and the handler's effects are stored together, in
 * one transaction of the consumer's own store: then a crash keeps both or neither. Such a consumer
 * leaves `save` out and writes the position in `handle`. A checkpoint kept apart from the effects
 * (in memory, in a file) gives at-least-once: a crash between the two hands the event over again.
 */
export interface Checkpoint {
  /** The position of the last event applied, or `undefined` to start at the beginning of the log. */
  load(): Promise<number | undefined> | number | undefined;
  /**
   * Keeps `position` once the handler has applied the event there (or, for a filtered subscription,
   * once the server has read that far without a wanted event). Absent: `handle` stores the position.
   */
  save?(position: number): Promise<void> | void;
}

export interface MemoryCheckpoint extends Checkpoint {
  /** The position saved last. */
  readonly position: number | undefined;
}

/** A checkpoint that lasts as long as the process: for tests, and consumers that rebuild from the start. */
export const memoryCheckpoint = (start?: number): MemoryCheckpoint => {
  let position = start;
  return {
    get position() {
      return position;
    },
    load: () => position,
    save: (at) => {
      position = at;
    },
  };
};
