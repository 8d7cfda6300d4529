/**
 * The SFTP server of one channel, without sockets: bytes in (`receive`), reply packets out (the
 * sink). It frames packets, answers every one of them (unknown types and extensions with
 * OP_UNSUPPORTED, malformed ones with BAD_MESSAGE) and closes only when framing is lost.
 *
 * Flow control with public stream operations only: up to MAX_RUNNING requests run at once, in
 * arrival order, and each first reserves the bytes its reply (or its WRITE data) will hold from the
 * connection's budget. The reservation is given back when the sink reports the reply sent, which
 * happens only as the client's SSH window lets it; meanwhile no further request starts and the sink
 * is asked to stop reading, so the client's window shuts. A client that stops reading its replies
 * therefore holds at most its budget, and resumes where it stopped.
 */
import { describeError } from '../error-map.js';
import { SFTP_STATUS } from '../error-map.js';
import type { GuardedFs, Logger } from '../../core/index.js';
import { FXP, Framer, FramingLost, MAX_IO, MalformedPacket, PacketReader, reply } from './codec.js';
import { HandleTable, type ConnectionResources } from './handles.js';
import { giveReplyBuffer } from './reply-buffers.js';
import { SftpRequests } from './requests.js';

/** Where an engine's replies go and how it holds back the client. */
export interface ReplySink {
  /** Sends a packet; `sent` runs once it has left the process's buffers. */
  write(packet: Buffer, sent: () => void): void;
  pauseInput(): void;
  resumeInput(): void;
  /** The client has sent its last request and every reply is written: end our side. */
  end(): void;
  /** Framing is lost: the channel must close. */
  close(): void;
}

export interface EngineOptions {
  fs: GuardedFs;
  sink: ReplySink;
  resources: ConnectionResources;
  logger: Logger;
  /** SYMLINK arrives as (target, link), OpenSSH's order, rather than the draft's (link, target). */
  symlinkTargetFirst: boolean;
}

/** Requests of one channel running at once (OpenSSH's client keeps 64 outstanding). */
const MAX_RUNNING = 64;
/** What a request without bulk data reserves until its reply has gone (a bigger reply adds the rest). */
const BASE_COST = 1024;
/** Replies smaller than this are joined with their neighbours into one write. */
const SMALL_REPLY = 1024;
const BATCH_BYTES = 32 * 1024;

export class SftpEngine {
  private readonly framer = new Framer();
  private readonly handles: HandleTable;
  private readonly requests: SftpRequests;
  private running = 0;
  /** A packet taken from the framer that waits for budget. */
  private pending: { payload: Buffer; cost: number } | undefined;
  private inputPaused = false;
  private pumping = false;
  private closed = false;
  /** Bytes this channel holds reserved in the connection's budget. */
  private reserved = 0;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private batchReserved = 0;
  private batchScheduled = false;
  private inputDone = false;
  private readonly retry = (): void => this.pump();

  constructor(private readonly options: EngineOptions) {
    this.handles = new HandleTable(options.resources);
    this.requests = new SftpRequests({
      fs: options.fs,
      handles: this.handles,
      budget: options.resources.budget,
      symlinkTargetFirst: options.symlinkTargetFirst,
      isClosed: () => this.closed,
    });
  }

  /** Bytes received and not yet started as requests. */
  get bufferedInput(): number {
    return this.framer.buffered + (this.pending?.payload.length ?? 0);
  }

  receive(chunk: Buffer): void {
    if (this.closed) return;
    this.framer.push(chunk);
    this.pump();
  }

  /** The client will send nothing more: our side ends once the requests it sent are answered. */
  inputEnded(): void {
    this.inputDone = true;
    this.endIfDone();
  }

  /** The channel is gone: open files are aborted (an unfinished upload leaves nothing), budget returned. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.options.resources.budget.cancelWait(this.retry);
    this.framer.clear();
    this.pending = undefined;
    this.batch = [];
    this.options.resources.budget.release(this.reserved);
    this.reserved = 0;
    for (const open of this.handles.drain()) {
      if (open.kind === 'file') void open.order.idle().then(() => open.file.abort());
    }
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.closed) {
        if (this.running >= MAX_RUNNING) return this.pauseInput();
        if (!this.pending) {
          const payload = this.framer.next();
          if (!payload) return this.resumeInput();
          this.pending = { payload, cost: costOf(payload) };
        }
        const budget = this.options.resources.budget;
        if (!budget.tryReserve(this.pending.cost)) {
          budget.wait(this.retry);
          return this.pauseInput();
        }
        const { payload, cost } = this.pending;
        this.pending = undefined;
        this.reserved += cost;
        this.start(payload, cost);
      }
    } catch (err) {
      if (!(err instanceof FramingLost)) throw err;
      this.options.logger.warn({ event: 'sftp_framing_lost', error: err.message }, 'SFTP packet length out of range: channel closed');
      this.close();
      this.options.sink.close();
    } finally {
      this.pumping = false;
    }
  }

  private pauseInput(): void {
    if (this.inputPaused) return;
    this.inputPaused = true;
    this.options.sink.pauseInput();
  }

  private resumeInput(): void {
    if (!this.inputPaused) return;
    this.inputPaused = false;
    this.options.sink.resumeInput();
  }

  private start(payload: Buffer, cost: number): void {
    this.running++;
    void this.answer(payload).then((packet) => {
      this.running--;
      this.send(packet, cost);
      this.pump();
      this.endIfDone();
    });
  }

  private endIfDone(): void {
    if (!this.inputDone || this.closed || this.running > 0 || this.pending) return;
    this.flush();
    this.options.sink.end();
  }

  /** The reply to one packet; never rejects. */
  private async answer(payload: Buffer): Promise<Buffer> {
    const type = payload[0];
    if (type === FXP.INIT) return reply.version(this.requests.extensions);
    let id = 0;
    try {
      const reader = new PacketReader(payload.subarray(1));
      if (type === undefined) throw new MalformedPacket('empty packet');
      id = reader.u32();
      const result = this.requests.handle(type, reader, id);
      if (!result) return reply.status(id, SFTP_STATUS.OP_UNSUPPORTED, 'Operation not supported');
      return await result;
    } catch (err) {
      if (err instanceof MalformedPacket) return reply.status(id, SFTP_STATUS.BAD_MESSAGE, 'Bad message');
      const { fs, logger } = this.options;
      const described = describeError(err, fs.session.language);
      if (described.code === 'INTERNAL') logger.error({ event: 'sftp_error', type, err }, 'SFTP request failed');
      else logger.debug({ event: 'sftp_refused', type, reason: described.code }, 'SFTP request refused');
      return reply.status(id, described.sftp, described.message);
    }
  }

  /** Hands a reply to the sink; its reservation (at least its own size) is released once it is sent. */
  private send(packet: Buffer, cost: number): void {
    if (this.closed) return;
    const budget = this.options.resources.budget;
    if (packet.length > cost) {
      budget.force(packet.length - cost);
      this.reserved += packet.length - cost;
      cost = packet.length;
    }
    if (packet.length < SMALL_REPLY) {
      this.batch.push(packet);
      this.batchBytes += packet.length;
      this.batchReserved += cost;
      if (this.batchBytes >= BATCH_BYTES) this.flush();
      else if (!this.batchScheduled) {
        this.batchScheduled = true;
        setImmediate(() => this.flush());
      }
      return;
    }
    this.flush();
    this.write(packet, cost);
  }

  private flush(): void {
    this.batchScheduled = false;
    if (this.closed || this.batch.length === 0) return;
    const packet = this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch, this.batchBytes);
    const cost = this.batchReserved;
    this.batch = [];
    this.batchBytes = 0;
    this.batchReserved = 0;
    this.write(packet, cost);
  }

  private write(packet: Buffer, cost: number): void {
    this.options.sink.write(packet, () => {
      giveReplyBuffer(packet);
      if (this.closed) return; // released all at once by close()
      this.reserved -= cost;
      this.options.resources.budget.release(cost);
    });
  }
}

/** What a request reserves before it starts: its reply's size for READ, its own data for WRITE. */
function costOf(payload: Buffer): number {
  const type = payload[0];
  if (type === FXP.READ && payload.length >= 5 + 4) {
    // id, handle string, uint64 offset, uint32 length: the length is the packet's last field.
    const length = payload.length >= 4 ? payload.readUInt32BE(payload.length - 4) : 0;
    return BASE_COST + Math.min(length, MAX_IO);
  }
  return BASE_COST + payload.length;
}
