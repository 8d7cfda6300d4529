/**
 * An SFTP engine on a real temporary tree with no SSH under it: packets in, decoded replies out, and
 * a sink that can hold replies back (a client that does not read).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { GuardedFs, silentLogger, type SessionFields } from '../../../../src/core/index.js';
import { ByteBudget } from '../../../../src/protocols/sftp/budget.js';
import { Framer, PacketReader } from '../../../../src/protocols/sftp/codec.js';
import { SftpEngine } from '../../../../src/protocols/sftp/engine.js';
import type { ConnectionResources } from '../../../../src/protocols/sftp/handles.js';
import { makeSession, makeTempDir } from '../../core/fixtures.js';

export interface Reply {
  type: number;
  id: number;
  /** The fields after the id. */
  body: PacketReader;
  raw: Buffer;
}

export interface Harness {
  engine: SftpEngine;
  root: string;
  resources: ConnectionResources;
  /** Replies by request id, in arrival order. */
  replies: Reply[];
  /** Replies written but not yet reported sent (while `holdReplies`). */
  held: (() => void)[];
  holdReplies: boolean;
  inputPaused: boolean;
  closed: boolean;
  ended: boolean;
  send(packet: Buffer): void;
  /** Sends a request and waits for the reply with its id. */
  request(packet: Buffer, id: number): Promise<Reply>;
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  dispose(): Promise<void>;
}

export async function startEngine(flags: Partial<SessionFields> = {}, limits: { maxHandles?: number; maxBuffered?: number; symlinkTargetFirst?: boolean } = {}): Promise<Harness> {
  const temp = await makeTempDir();
  await mkdir(path.join(temp.dir, 'home'));
  const fs = await GuardedFs.forSession(makeSession({ root_path: 'home', ...flags }), temp.dir);
  const fsRoot = path.join(temp.dir, flags.root_path ?? 'home');
  const gateway = new ByteBudget(limits.maxBuffered ?? 64 * 1024 * 1024);
  const resources: ConnectionResources = {
    handles: { used: 0, max: limits.maxHandles ?? 256 },
    readAhead: { used: 0, max: 4 },
    budget: gateway.child(limits.maxBuffered ?? 32 * 1024 * 1024),
    windows: { used: 0, max: (limits.maxBuffered ?? 32 * 1024 * 1024) / 4 },
  };
  const framer = new Framer();
  const harness: Harness = {
    engine: undefined as unknown as SftpEngine,
    root: fsRoot,
    resources,
    replies: [],
    held: [],
    holdReplies: false,
    inputPaused: false,
    closed: false,
    ended: false,
    send: (packet) => harness.engine.receive(packet),
    async request(packet, id) {
      const start = harness.replies.length;
      harness.send(packet);
      let found: Reply | undefined;
      await harness.waitFor(() => (found = harness.replies.slice(start).find((r) => r.id === id)) !== undefined);
      return found!;
    },
    async waitFor(predicate, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error('timed out waiting for the engine');
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    },
    async dispose() {
      harness.engine.close();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await temp.remove();
    },
  };
  harness.engine = new SftpEngine({
    fs,
    resources,
    logger: silentLogger,
    symlinkTargetFirst: limits.symlinkTargetFirst ?? false,
    sink: {
      write(packet, sent) {
        framer.push(Buffer.from(packet));
        for (let p = framer.next(); p; p = framer.next()) {
          const body = new PacketReader(p.subarray(1));
          const type = p[0]!;
          harness.replies.push({ type, id: type === 2 ? -1 : body.u32(), body, raw: p });
        }
        if (harness.holdReplies) harness.held.push(sent);
        else sent();
      },
      pauseInput: () => void (harness.inputPaused = true),
      resumeInput: () => void (harness.inputPaused = false),
      end: () => void (harness.ended = true),
      close: () => void (harness.closed = true),
    },
  });
  return harness;
}
