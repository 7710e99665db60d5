// The order in which the targets of a cold or write row take their turns, round by round: every
// target comes after a different one from round to round, so that what a target leaves behind
// (memory to free, pages to write back) does not fall on the same next target in every round.

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/**
 * The targets' indexes (0..n-1) in the order round `round` runs them (any integer, negative too).
 * Even n: the rows of a Williams square (0, 1, n-1, 2, n-2, ... shifted by the round), in which over
 * n rounds each target directly follows each other target exactly once. Odd n: start at `round`
 * and step by a stride s coprime with n, a different one each round, so the target before t is t-s
 * (t being first in at most one of two rounds with the same s): for prime n all n-1 others take
 * that place over 2(n-1) rounds, and for five targets three or four of them over the six rounds of a row.
 * (Rotating one fixed order, as before, kept every target right behind the same one.)
 */
export function roundOrder(round: number, n: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`roundOrder: n must be a whole number, not ${n}`);
  if (n === 0) return [];
  const r = mod(round, n);
  if (n % 2 === 0) {
    const first = Array.from({ length: n }, (_, j) => (j % 2 === 1 ? (j + 1) / 2 : mod(-j / 2, n)));
    return first.map((w) => mod(w + r, n));
  }
  const strides = Array.from({ length: n }, (_, s) => s).filter((s) => s > 0 && gcd(s, n) === 1);
  const stride = strides[mod(round, strides.length)] ?? 1;
  return Array.from({ length: n }, (_, j) => mod(r + j * stride, n));
}
