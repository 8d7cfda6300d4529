/**
 * Memory budgets for SFTP: one for the gateway, one per connection under it. A request reserves the
 * bytes its reply (or its data) may hold before it starts, and gives them back once the reply has
 * left the process. A connection that has nothing reserved may always take one reservation even when
 * the gateway's budget is spent, so one client's stalled transfers never stop another's.
 */
export class ByteBudget {
  private used = 0;
  private disposed = false;
  private readonly waiters = new Set<() => void>();
  private readonly children = new Set<ByteBudget>();

  constructor(
    readonly limit: number,
    private readonly parent?: ByteBudget,
  ) {}

  get reserved(): number {
    return this.used;
  }

  /** A budget under this one (a connection's under the gateway's). */
  child(limit: number): ByteBudget {
    const child = new ByteBudget(limit, this);
    this.children.add(child);
    return child;
  }

  /** Reserves `bytes` if this budget and its parent have room (see the class comment); true if done. */
  tryReserve(bytes: number): boolean {
    if (this.used > 0 && this.used + bytes > this.limit) return false;
    if (this.used > 0 && this.parent && this.parent.used + bytes > this.parent.limit) return false;
    this.force(bytes);
    return true;
  }

  /** Reserves without checking (a reply turned out bigger than its estimate). */
  force(bytes: number): void {
    if (this.disposed) return;
    this.used += bytes;
    this.parent?.addUsed(bytes);
  }

  release(bytes: number): void {
    if (bytes <= 0 || this.disposed) return;
    this.used -= bytes;
    this.parent?.releaseFromChild(bytes);
    this.wake();
  }

  /** Calls `retry` (once) the next time bytes are released here or in the parent. */
  wait(retry: () => void): void {
    this.waiters.add(retry);
  }

  cancelWait(retry: () => void): void {
    this.waiters.delete(retry);
  }

  /** A closed connection: whatever it still holds goes back to the parent; later releases are no-ops. */
  dispose(): void {
    if (this.disposed) return;
    this.parent?.children.delete(this);
    this.parent?.releaseFromChild(this.used);
    this.used = 0;
    this.disposed = true;
    this.waiters.clear();
  }

  private addUsed(bytes: number): void {
    this.used += bytes;
  }

  private releaseFromChild(bytes: number): void {
    this.used -= bytes;
    for (const child of this.children) child.wake();
  }

  private wake(): void {
    if (this.waiters.size === 0) return;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const retry of waiters) retry();
  }
}
