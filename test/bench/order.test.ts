// The turn order of cold and write rounds (bench/mount/order.ts): a permutation every round, and
// over the rounds every target follows several others, not always the same one.
import { describe, it, expect } from 'vitest';
import { roundOrder } from '../../bench/mount/order.js';

/** For each target, the set of targets that ran directly before it within a round, over `rounds`. */
function predecessors(n: number, rounds: number[]): Map<number, Set<number>> {
  const m = new Map<number, Set<number>>();
  for (let t = 0; t < n; t++) m.set(t, new Set());
  for (const r of rounds) {
    const o = roundOrder(r, n);
    for (let j = 1; j < o.length; j++) m.get(o[j]!)!.add(o[j - 1]!);
  }
  return m;
}

describe('roundOrder', () => {
  it('is a permutation of 0..n-1 in every round, negative rounds too', () => {
    for (let n = 0; n <= 9; n++) {
      for (let r = -3; r < 12; r++) {
        const o = roundOrder(r, n);
        expect([...o].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      }
    }
  });

  it('even n: over n rounds each target directly follows each other target exactly once', () => {
    for (const n of [2, 4, 6, 8]) {
      const pairs = new Map<string, number>();
      for (let r = 0; r < n; r++) {
        const o = roundOrder(r, n);
        for (let j = 1; j < n; j++) pairs.set(`${o[j - 1]}>${o[j]}`, (pairs.get(`${o[j - 1]}>${o[j]}`) ?? 0) + 1);
      }
      expect(pairs.size).toBe(n * (n - 1));
      expect([...pairs.values()].every((c) => c === 1)).toBe(true);
    }
  });

  it('odd prime n: over 2(n-1) rounds each target follows every other target', () => {
    for (const n of [3, 5, 7]) {
      const pre = predecessors(n, Array.from({ length: 2 * (n - 1) }, (_, r) => r));
      for (const [t, s] of pre) expect([t, s.size]).toEqual([t, n - 1]);
    }
  });

  it('five targets, the bench rounds -1..4: no target has one fixed predecessor, and the first place moves', () => {
    const rounds = [-1, 0, 1, 2, 3, 4];
    for (const s of predecessors(5, rounds).values()) expect(s.size).toBeGreaterThanOrEqual(3);
    expect(new Set(rounds.map((r) => roundOrder(r, 5)[0])).size).toBe(5);
  });

  it('rejects a count that is not a whole number', () => {
    expect(() => roundOrder(0, 2.5)).toThrow(RangeError);
    expect(() => roundOrder(0, -1)).toThrow(RangeError);
  });
});
