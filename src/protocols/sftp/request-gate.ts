/**
 * Flow control for one SFTP channel. ssh2 dispatches every request the moment it arrives and keeps
 * every reply the client's window has no room for, so a client that pipelines READs and never
 * reads the answers made the server hold 255 KiB per 30-byte request (4,000 READs: 1 GB). Here at
 * most MAX_RUNNING requests run at once and later ones wait in arrival order (HandleOrder relies on
 * that order). While requests wait or unsent replies pile up, the channel's input is held and its
 * window stays shut, as OpenSSH's sftp-server reads no request while its output queue is full.
 *
 * This wraps ssh2 internals of the pinned 1.17.0 (`SFTP#push`, `#_buffer`, `#incoming`), as
 * PacketPacker does.
 */
import type { SFTPWrapper } from 'ssh2';

/** Requests of one channel running at once (OpenSSH's client keeps 64 outstanding). */
const MAX_RUNNING = 64;
/** Reply bytes ssh2 may keep for a client whose window is shut before we stop reading requests. */
const MAX_UNSENT_BYTES = 4 * 1024 * 1024;
/** Input held meanwhile; ssh2 opens at most 2 MiB of window, so only a client ignoring it gets here. */
const MAX_HELD_BYTES = 4 * 1024 * 1024;
/** ssh2's channel window: what it re-opens to once we take input again. */
const MAX_WINDOW = 2 * 1024 * 1024;
/** How often a channel held only by unsent replies looks again (no event says the client read). */
const RECHECK_MS = 10;

interface SftpInternals {
  push(data: Buffer | null): unknown;
  _buffer: Buffer[];
  _waitChanDrain: boolean | undefined;
  _client: { _protocol: { channelWindowAdjust(channel: number, amount: number): void } };
  incoming: { window: number };
  outgoing: { id: number; state: string };
}

export class RequestGate {
  private readonly internals: SftpInternals;
  private readonly push: (data: Buffer | null) => unknown;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Input not yet parsed. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private recheck: NodeJS.Timeout | undefined;
  private closed = false;

  /** `overrun` ends the channel of a client that sends past its window. */
  constructor(sftp: SFTPWrapper, private readonly overrun: () => void) {
    this.internals = sftp as unknown as SftpInternals;
    this.push = this.internals.push.bind(sftp);
    // ssh2 calls push() with each CHANNEL_DATA; `false` makes it skip the window adjustment.
    this.internals.push = (data) => this.receive(data);
  }

  /** Runs one request's work now, or after the requests that arrived before it. */
  run(work: () => Promise<void>): void {
    if (this.waiting.length === 0 && this.running < MAX_RUNNING && !this.backlogged()) this.start(work);
    else this.waiting.push(() => this.start(work));
  }

  /** The channel is gone: nothing held runs. */
  close(): void {
    this.closed = true;
    clearTimeout(this.recheck);
    this.waiting.length = 0;
    this.held = [];
    this.heldBytes = 0;
  }

  private start(work: () => Promise<void>): void {
    this.running++;
    void work().finally(() => {
      this.running--;
      this.release();
    });
  }

  private receive(data: Buffer | null): unknown {
    if (data === null) {
      // EOF (or the connection died): ssh2 emits 'close', which aborts open files, only after this.
      this.close();
      return this.push(null);
    }
    if (this.closed) return false; // overrun: the channel is closing, its input goes nowhere
    if (this.held.length === 0 && !this.busy()) return this.push(data);
    this.held.push(data);
    this.heldBytes += data.length;
    if (this.heldBytes > MAX_HELD_BYTES) {
      this.close();
      this.overrun();
    } else if (this.running === 0) {
      this.scheduleRecheck();
    }
    return false;
  }

  private busy(): boolean {
    return this.waiting.length > 0 || this.backlogged();
  }

  private backlogged(): boolean {
    let unsent = 0;
    for (const reply of this.internals._buffer) unsent += reply.length;
    return unsent > MAX_UNSENT_BYTES;
  }

  /** Starts waiting requests, then feeds held input, as far as room allows. */
  private release(): void {
    if (this.closed) return;
    while (this.waiting.length > 0 && this.running < MAX_RUNNING && !this.backlogged()) this.waiting.shift()!();
    while (this.held.length > 0 && !this.busy()) {
      const data = this.held.shift()!;
      this.heldBytes -= data.length;
      this.push(data);
    }
    if (this.held.length === 0 && this.internals._waitChanDrain) this.reopenWindow();
    // Nothing running will call release() again: only the client reading its replies unblocks us.
    if ((this.waiting.length > 0 || this.held.length > 0) && this.running === 0) this.scheduleRecheck();
  }

  private scheduleRecheck(): void {
    if (this.recheck === undefined) {
      this.recheck = setTimeout(() => {
        this.recheck = undefined;
        this.release();
      }, RECHECK_MS).unref();
    }
  }

  /** What ssh2 does after a paused channel drains (Channel.js windowAdjust). */
  private reopenWindow(): void {
    const { incoming, outgoing, _client } = this.internals;
    this.internals._waitChanDrain = false;
    if (outgoing.state !== 'open') return;
    const amount = MAX_WINDOW - incoming.window;
    if (amount <= 0) return;
    incoming.window += amount;
    _client._protocol.channelWindowAdjust(outgoing.id, amount);
  }
}
