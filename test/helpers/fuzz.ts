/** Shared pieces of the bounded fuzz tests: a seeded PRNG (a failure replays) and a settled heap reading. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Helpers over one PRNG: pick an item, random bytes. */
export function picker(random: () => number): { pick: <T>(items: readonly T[]) => T; bytes: (length: number) => Buffer } {
  return {
    pick: (items) => items[Math.floor(random() * items.length)]!,
    bytes: (length) => Buffer.from(Array.from({ length }, () => Math.floor(random() * 256))),
  };
}

/** The heap after a few collections spaced out so pending closes and timers can run first. */
export async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    gc();
  }
  return process.memoryUsage().heapUsed;
}
