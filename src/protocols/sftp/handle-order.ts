/**
 * Ordering of the requests on one SFTP handle. Clients keep many READs or WRITEs outstanding; running
 * them concurrently is what makes transfers fast, and positioned I/O on disjoint ranges commutes.
 * What must not be reordered waits: a write for every earlier request that overlaps its range, a
 * read for earlier overlapping writes, and a barrier (FSETSTAT, CLOSE) for everything before it.
 */
export type OpKind = 'read' | 'write' | 'barrier';

interface InFlight {
  kind: OpKind;
  start: number;
  end: number;
  settled: Promise<void>;
}

const noop = (): void => {};

export class HandleOrder {
  private readonly inFlight = new Set<InFlight>();

  /** Runs `op` once every earlier conflicting request has settled. `length` may be Infinity. */
  run<T>(kind: OpKind, start: number, length: number, op: () => Promise<T>): Promise<T> {
    const entry: InFlight = { kind, start, end: start + length, settled: Promise.resolve() };
    const waits: Promise<void>[] = [];
    for (const earlier of this.inFlight) if (conflicts(earlier, entry)) waits.push(earlier.settled);
    const result = waits.length === 0 ? op() : Promise.all(waits).then(op);
    entry.settled = result.then(noop, noop);
    this.inFlight.add(entry);
    void entry.settled.then(() => this.inFlight.delete(entry));
    return result;
  }

  /** Resolves when everything started so far has settled (used before aborting a handle). */
  async idle(): Promise<void> {
    await Promise.all([...this.inFlight].map((entry) => entry.settled));
  }
}

function conflicts(earlier: InFlight, later: InFlight): boolean {
  if (earlier.kind === 'barrier' || later.kind === 'barrier') return true;
  if (earlier.kind === 'read' && later.kind === 'read') return false;
  return earlier.start < later.end && later.start < earlier.end;
}
