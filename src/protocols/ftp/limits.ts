/** Connection limits shared by the plain and the implicit-TLS listener: in total and per source address. */
import type { Socket } from 'node:net';
import { normalizeAddress } from './passive.js';

export class ConnectionLimits {
  private total = 0;
  private readonly perSource = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerSource: number,
  ) {}

  /** Counts the connection in (until it closes), or false when a limit is reached. */
  admit(socket: Socket): boolean {
    const source = normalizeAddress(socket.remoteAddress);
    const fromSource = this.perSource.get(source) ?? 0;
    if (this.total >= this.maxTotal || fromSource >= this.maxPerSource) return false;
    this.total++;
    this.perSource.set(source, fromSource + 1);
    socket.once('close', () => {
      this.total--;
      const left = this.perSource.get(source)! - 1;
      if (left > 0) this.perSource.set(source, left);
      else this.perSource.delete(source);
    });
    return true;
  }
}
