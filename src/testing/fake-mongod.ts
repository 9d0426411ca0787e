import type { Socket, TCPSocketListener } from "bun";
import { BSON, type Document, Long, ObjectId } from "mongodb";

/**
 * A MongoDB server in name only: it speaks the wire protocol (OP_QUERY for the driver's first
 * handshake, OP_MSG after it) and answers each command as the test scripts it, so the real driver runs
 * against it and builds its errors, retries and time-outs exactly as it would against mongod. It keeps
 * no data: a test says what each command answers (`handle`), and reads back what was sent
 * (`commands`). For what only a server can say (indexes, majority reads, a failover) the server suites
 * run wherever `MONGO_URL` is set.
 *
 * It presents itself as the primary of a one-member replica set `rs0`, so the driver sends retryable
 * writes and, once `primary` is false, finds no primary and waits for one (server selection), as it
 * does during an election.
 */
export interface FakeCommand {
  readonly name: string;
  readonly db: string;
  /** The collection a command names (`{ insert: "commits" }` → `commits`), if any. */
  readonly collection: string | undefined;
  readonly body: Document;
}

/** A reply document, or: never answer (a server that hangs), or drop the connection (a network error). */
export type FakeReply = Document | "hang" | "close";

/** The answer to one command; `undefined` lets the default answer it. */
export type FakeHandler = (command: FakeCommand) => FakeReply | undefined;

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const MAX_BSON = 16 * 1024 * 1024;

/** Commands the driver sends on its own (monitoring, sessions): not kept in `commands`. */
const housekeeping = new Set(["hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo"]);

interface Frame {
  readonly requestId: number;
  readonly opCode: number;
  readonly payload: Buffer;
}

const cstring = (buffer: Buffer, at: number): [string, number] => {
  const end = buffer.indexOf(0, at);
  return [buffer.toString("utf8", at, end), end + 1];
};

/** The command of an OP_MSG: its body, with each document sequence (kind 1) set as a field of it. */
const readOpMsg = (payload: Buffer): Document => {
  const flags = payload.readUInt32LE(0);
  const end = payload.length - (flags & 1 ? 4 : 0);
  let at = 4;
  let body: Document = {};
  const sequences: [string, Document[]][] = [];
  while (at < end) {
    const kind = payload[at++];
    if (kind === 0) {
      const size = payload.readInt32LE(at);
      body = BSON.deserialize(payload.subarray(at, at + size));
      at += size;
    } else {
      const size = payload.readInt32LE(at);
      const stop = at + size;
      const [identifier, next] = cstring(payload, at + 4);
      const docs: Document[] = [];
      for (let d = next; d < stop; ) {
        const docSize = payload.readInt32LE(d);
        docs.push(BSON.deserialize(payload.subarray(d, d + docSize)));
        d += docSize;
      }
      sequences.push([identifier, docs]);
      at = stop;
    }
  }
  for (const [identifier, docs] of sequences) body[identifier] = docs;
  return body;
};

const header = (length: number, requestId: number, responseTo: number, opCode: number): Buffer => {
  const out = Buffer.alloc(16);
  out.writeInt32LE(length, 0);
  out.writeInt32LE(requestId, 4);
  out.writeInt32LE(responseTo, 8);
  out.writeInt32LE(opCode, 12);
  return out;
};

let nextReplyId = 1;

const opMsgReply = (responseTo: number, doc: Document): Buffer => {
  const body = BSON.serialize(doc);
  const flagsAndKind = Buffer.alloc(5);
  return Buffer.concat([header(16 + 5 + body.length, nextReplyId++, responseTo, OP_MSG), flagsAndKind, body]);
};

const opReply = (responseTo: number, doc: Document): Buffer => {
  const body = BSON.serialize(doc);
  const fields = Buffer.alloc(20);
  fields.writeInt32LE(1, 16); // numberReturned
  return Buffer.concat([header(16 + 20 + body.length, nextReplyId++, responseTo, OP_REPLY), fields, body]);
};

/** An empty, exhausted cursor of the collection a command reads. */
export const emptyCursor = (command: FakeCommand, firstBatch: Document[] = []): Document => ({
  ok: 1,
  cursor: { id: Long.ZERO, ns: `${command.db}.${command.collection ?? "$cmd"}`, firstBatch },
});

export class FakeMongod {
  /** Every command a client sent, but the driver's own housekeeping, in the order they came. */
  readonly commands: FakeCommand[] = [];
  /** The test's script; consulted before the defaults. */
  handle: FakeHandler = () => undefined;
  /** False: the member says it is a secondary, and answers every command `NotWritablePrimary`. */
  primary = true;
  /** What `findAndModify` on `counters` with `$inc` counts from, as the position counter would. */
  private readonly counters = new Map<string, number>();
  private readonly sockets = new Set<Socket<{ buffered: Buffer }>>();
  private readonly electionId = new ObjectId();
  private connectionIds = 0;

  private constructor(private readonly listener: TCPSocketListener<{ buffered: Buffer }>) {}

  static start(): FakeMongod {
    let server: FakeMongod | undefined;
    const listener = Bun.listen<{ buffered: Buffer }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(socket) {
          socket.data = { buffered: Buffer.alloc(0) };
          server?.sockets.add(socket);
        },
        data(socket, chunk) {
          server?.receive(socket, Buffer.from(chunk));
        },
        close(socket) {
          server?.sockets.delete(socket);
        },
      },
    });
    server = new FakeMongod(listener);
    return server;
  }

  get address(): string {
    return `127.0.0.1:${this.listener.port}`;
  }

  /** A URL for the driver: the replica set `rs0` of this one member, and the database named. */
  url(database: string): string {
    return `mongodb://${this.address}/${database}?replicaSet=rs0`;
  }

  /** The commands sent so far with this name (to a collection, if given). */
  sent(name: string, collection?: string): FakeCommand[] {
    return this.commands.filter(
      (c) => c.name === name && (collection === undefined || c.collection === collection),
    );
  }

  /** Drops every open connection, as a server that restarts does. */
  dropConnections(): void {
    for (const socket of this.sockets) socket.end();
  }

  stop(): void {
    this.dropConnections();
    this.listener.stop(true);
  }

  private receive(socket: Socket<{ buffered: Buffer }>, chunk: Buffer): void {
    let buffered = Buffer.concat([socket.data.buffered, chunk]);
    while (buffered.length >= 4) {
      const length = buffered.readInt32LE(0);
      if (buffered.length < length) break;
      const frame: Frame = {
        requestId: buffered.readInt32LE(4),
        opCode: buffered.readInt32LE(12),
        payload: buffered.subarray(16, length),
      };
      buffered = buffered.subarray(length);
      this.answer(socket, frame);
    }
    socket.data.buffered = buffered;
  }

  private answer(socket: Socket<{ buffered: Buffer }>, frame: Frame): void {
    let db: string;
    let body: Document;
    if (frame.opCode === OP_QUERY) {
      const [namespace, next] = cstring(frame.payload, 4);
      db = namespace.split(".")[0] ?? "admin";
      const size = frame.payload.readInt32LE(next + 8);
      body = BSON.deserialize(frame.payload.subarray(next + 8, next + 8 + size));
    } else if (frame.opCode === OP_MSG) {
      body = readOpMsg(frame.payload);
      db = String(body.$db ?? "admin");
    } else {
      socket.end();
      return;
    }
    const name = Object.keys(body)[0] ?? "";
    const target = body[name];
    const command: FakeCommand = {
      name,
      db,
      collection: typeof target === "string" ? target : undefined,
      body,
    };
    const reply = this.reply(command);
    if (reply === "hang") return;
    if (reply === "close") {
      socket.end();
      return;
    }
    socket.write(
      frame.opCode === OP_QUERY ? opReply(frame.requestId, reply) : opMsgReply(frame.requestId, reply),
    );
  }

  private reply(command: FakeCommand): FakeReply {
    const isHello = ["hello", "ismaster", "isMaster"].includes(command.name);
    if (isHello) return this.hello();
    if (!housekeeping.has(command.name)) this.commands.push(command);
    const scripted = this.handle(command);
    if (scripted !== undefined) return scripted;
    if (!this.primary && command.name !== "endSessions") {
      return { ok: 0, code: 10107, codeName: "NotWritablePrimary", errmsg: "not primary" };
    }
    return this.defaultReply(command);
  }

  private hello(): Document {
    return {
      ok: 1,
      helloOk: true,
      isWritablePrimary: this.primary,
      ismaster: this.primary,
      secondary: !this.primary,
      setName: "rs0",
      setVersion: 1,
      electionId: this.electionId,
      hosts: [this.address],
      me: this.address,
      ...(this.primary ? { primary: this.address } : {}),
      maxBsonObjectSize: MAX_BSON,
      maxMessageSizeBytes: 48_000_000,
      maxWriteBatchSize: 100_000,
      localTime: new Date(),
      logicalSessionTimeoutMinutes: 30,
      connectionId: ++this.connectionIds,
      minWireVersion: 0,
      maxWireVersion: 21,
      readOnly: false,
    };
  }

  /** What a healthy primary with nothing stored would answer. */
  private defaultReply(command: FakeCommand): Document {
    const { body } = command;
    switch (command.name) {
      case "insert":
        return { ok: 1, n: (body.documents as unknown[]).length };
      case "update":
        return { ok: 1, n: (body.updates as unknown[]).length, nModified: 0 };
      case "delete":
        return { ok: 1, n: 0 };
      case "find":
      case "aggregate":
        return emptyCursor(command);
      case "findAndModify": {
        const increment = (body.update as { $inc?: { value?: number } }).$inc?.value;
        const id = String((body.query as { _id?: unknown })._id);
        if (command.collection === "counters" && increment !== undefined) {
          const value = (this.counters.get(id) ?? 0) + increment;
          this.counters.set(id, value);
          return { ok: 1, value: { _id: id, value }, lastErrorObject: { n: 1, updatedExisting: true } };
        }
        return { ok: 1, value: null, lastErrorObject: { n: 0 } };
      }
      default:
        return { ok: 1 };
    }
  }
}

/** A write concern error, as a primary whose secondaries do not answer in time reports it. */
export const writeConcernTimeout = {
  code: 64,
  codeName: "WriteConcernFailed",
  errmsg: "waiting for replication timed out",
  errInfo: { wtimeout: true },
};
