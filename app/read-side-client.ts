import { resolve } from "node:path";
import type { MetricObjectWithValues, MetricValue } from "prom-client";
import type { Config } from "../src/config.ts";
import type { ReadinessCheck } from "../src/http/app.ts";
import { type RouteAnswer, type RouteCall, servedElsewhere } from "../src/http/remote-routes.ts";
import type { HttpRoute } from "../src/http/route.ts";
import { StartupError } from "../src/lib/errors.ts";
import { throttle } from "../src/lib/throttle.ts";
import type { Answer, FromReadSide, ToReadSide } from "./read-side-protocol.ts";

/**
 * The modules the process was started with (`bun --preload`: instrumentation, a test's stand-in for
 * a missing library): a thread does not inherit them, so it is given them.
 */
export const preloads = (execArgv: readonly string[]): string[] => {
  const found: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string;
    const inline = /^--preload=(.+)$/.exec(arg)?.[1];
    if (inline) found.push(inline);
    else if ((arg === "--preload" || arg === "-r") && execArgv[i + 1]) found.push(execArgv[++i] as string);
  }
  // A path is the process's, relative to where it started; a package name is resolved as it was.
  return found.map((module) => (module.startsWith(".") ? resolve(module) : module));
};

/** A wake-up per durable batch would cost the edge a message each; the relay rounds are 10 ms apart. */
const WAKE_EVERY_MS = 5;

type Scrape = readonly MetricObjectWithValues<MetricValue<string>>[];

interface Pending {
  readonly resolve: (value: Answer) => void;
  readonly reject: (error: Error) => void;
}

/** The edge's handle on the read side's thread (see read-side-thread.ts). */
export class ReadSideThread {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  private readonly waking = throttle(() => this.post({ kind: "wake" }), WAKE_EVERY_MS);

  private constructor(
    private readonly worker: Worker,
    /** What the thread reported at start. */
    readonly started: Extract<FromReadSide, { kind: "started" }>,
    /** Told once if the thread stops by itself; from then on every call and check fails. */
    private readonly onFailure: (error: Error) => void,
  ) {
    worker.onmessage = (event: MessageEvent<FromReadSide>) => this.settle(event.data);
    worker.onerror = (event) => this.fail(new Error(`the read side's thread failed: ${event.message}`));
    worker.onmessageerror = () =>
      this.fail(new Error("a message from the read side's thread was unreadable"));
    worker.addEventListener("close", () => this.fail(new Error("the read side's thread exited")));
  }

  /** Starts the thread and waits until the read side runs there; a start that fails is thrown here. */
  static async start(config: Config, onFailure: (error: Error) => void): Promise<ReadSideThread> {
    // Named, as its OS thread is too: the bench's CPU per thread tells it from the SQLite writer's.
    const worker = new Worker(new URL("./read-side-thread.ts", import.meta.url).href, {
      name: "read-side",
      // A heap that is collected more often: the in-process read models make it large, and its
      // garbage between collections was what set the peak of a million accounts (measured: the peak
      // about 90 MiB lower, deposits and the tail at half load unchanged within the runs' spread).
      smol: true,
      preload: preloads(process.execArgv),
    });
    const started = await new Promise<Extract<FromReadSide, { kind: "started" }>>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<FromReadSide>) => {
        const message = event.data;
        if (message.kind === "started") resolve(message);
        else if (message.kind === "failed")
          reject(
            message.startup
              ? new StartupError(message.message)
              : Object.assign(new Error(message.message), { stack: message.stack }),
          );
      };
      worker.onerror = (event) => reject(new Error(`the read side's thread failed: ${event.message}`));
      // A thread that ends without a word (a preload that exits) must not leave the start waiting.
      worker.addEventListener("close", () =>
        reject(new Error("the read side's thread exited while starting")),
      );
      const start: ToReadSide = { kind: "start", config };
      worker.postMessage(start);
    }).catch((error: unknown) => {
      worker.terminate();
      throw error;
    });
    return new ReadSideThread(worker, started, onFailure);
  }

  /** The read side's readiness checks, each answered on its thread. */
  get readiness(): ReadinessCheck[] {
    return this.started.readiness.map(({ name, required }) => ({
      name,
      required,
      check: () => this.request((id) => ({ kind: "ready", id, name })),
    }));
  }

  /** The routes whose shapes are given, each answered on the thread. */
  routes(shapes: readonly HttpRoute[]): HttpRoute[] {
    return servedElsewhere(shapes, (call, signal) => this.call(call, signal));
  }

  /**
   * Events were appended: the relay is told at once, then at most every `WAKE_EVERY_MS` while they
   * keep coming (a relay that is busy has no use for more; one that went idle hears of the last).
   */
  wake(): void {
    if (!this.failure) this.waking.request();
  }

  /** The thread's metrics, to be served with the edge's. */
  async metrics(): Promise<Scrape> {
    return (await this.request((id) => ({ kind: "metrics", id }))) as Scrape;
  }

  /** Stops the read side (the relay, the projections, the broker, the read stores), then the thread. */
  async stop(): Promise<void> {
    if (!this.failure) await this.request((id) => ({ kind: "stop", id })).catch(() => {});
    this.failure ??= new Error("the read side is stopped");
    this.waking.cancel();
    this.worker.terminate();
    // What a request still waited for will not come: it fails now rather than hang its answer.
    this.rejectPending(this.failure);
  }

  private async call(call: RouteCall, signal: AbortSignal): Promise<RouteAnswer> {
    let id = 0;
    const answer = this.request((next) => {
      id = next;
      return { kind: "call", id, call };
    });
    const cancel = () => this.post({ kind: "cancel", id });
    // A client that left while its request was validated: the thread stops at once.
    if (signal.aborted) cancel();
    signal.addEventListener("abort", cancel, { once: true });
    try {
      return (await answer) as RouteAnswer;
    } finally {
      signal.removeEventListener("abort", cancel);
    }
  }

  private request(message: (id: number) => ToReadSide): Promise<Answer> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.post(message(id));
      } catch (error) {
        // What cannot be cloned (a reply body of a class, a function) never left.
        this.pending.delete(id);
        reject(error);
      }
    });
  }

  private post(message: ToReadSide): void {
    this.worker.postMessage(message);
  }

  private settle(message: FromReadSide): void {
    if (message.kind !== "answer") return;
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    if (message.ok) pending.resolve(message.value);
    else pending.reject(new Error(message.message));
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.rejectPending(error);
    this.onFailure(error);
  }

  private rejectPending(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
