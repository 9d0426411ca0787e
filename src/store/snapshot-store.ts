export interface Snapshot {
  readonly streamId: string;
  readonly version: number;
  /** The shape of `state`: a snapshot of another shape is ignored, and the stream replayed instead. */
  readonly snapshotVersion: number;
  readonly state: unknown;
}

/** A stream's state at some version, so loading it need not fold every event. Only a cache. */
export interface SnapshotStore {
  loadSnapshot(streamId: string): Promise<Snapshot | undefined>;
  /** Keeps the newest: a snapshot older than the one held is dropped. */
  saveSnapshot(snapshot: Snapshot): Promise<void>;
}
