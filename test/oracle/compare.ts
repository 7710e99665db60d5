// Oracle comparison: runs one operation sequence on two targets, step by step, and fails with a
// readable counterexample at the first differing outcome or final tree.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { applyOp, formatOp, formatOutcome, type Op, type Outcome, type OwnedTarget } from './ops.js';
import { diffSnapshots, snapshotTree, type TreeSnapshot } from './snapshot.js';
import { removeBase, tempBase } from './kernel.js';

/** Thrown when two targets disagree; the message is the counterexample. */
export class OracleMismatch extends Error {
  constructor(message: string, readonly step: number | 'final tree') {
    super(message);
    this.name = 'OracleMismatch';
  }
}

export interface ComparisonResult {
  outcomes: Outcome[];
  snapshot: TreeSnapshot;
}

export interface ComparisonOptions {
  /** Printed with every counterexample (seed, format, ...). */
  context?: string;
  /** Compare the final trees too (default true). */
  compareTrees?: boolean;
}

function opList(ops: Op[], outcomes: Outcome[], upTo: number): string {
  return ops.slice(0, upTo + 1).map((op, i) => {
    const o = outcomes[i];
    const tail = i === upTo ? '   <-- differs' : o ? `   -> ${formatOutcome(o)}` : '';
    return `  ${String(i + 1).padStart(2)}. ${formatOp(op)}${tail}`;
  }).join('\n');
}

async function makeBoth(makeA: () => Promise<OwnedTarget>, makeB: () => Promise<OwnedTarget>): Promise<[OwnedTarget, OwnedTarget]> {
  const [ra, rb] = await Promise.allSettled([makeA(), makeB()]);
  if (ra.status === 'fulfilled' && rb.status === 'fulfilled') return [ra.value, rb.value];
  if (ra.status === 'fulfilled') await ra.value.cleanup();
  if (rb.status === 'fulfilled') await rb.value.cleanup();
  throw ra.status === 'rejected' ? ra.reason : (rb as PromiseRejectedResult).reason;
}

/**
 * Applies `ops` to a fresh target A and a fresh target B, asserting equal outcomes after every
 * step and equal trees at the end; both targets are cleaned up whatever happens.
 */
export async function runComparison(
  ops: Op[],
  makeA: () => Promise<OwnedTarget>,
  makeB: () => Promise<OwnedTarget>,
  opts: ComparisonOptions = {},
): Promise<ComparisonResult> {
  const [a, b] = await makeBoth(makeA, makeB);
  const ctx = opts.context ? `${opts.context}\n` : '';
  let failure: unknown;
  try {
    const outcomes: Outcome[] = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const oa = await applyOp(a, op);
      const ob = await applyOp(b, op);
      if (JSON.stringify(oa) !== JSON.stringify(ob)) {
        throw new OracleMismatch(
          `${ctx}step ${i + 1} of ${ops.length} differs: ${formatOp(op)}\n` +
          `  ${a.label}: ${formatOutcome(oa)}\n  ${b.label}: ${formatOutcome(ob)}\n` +
          `operations so far (outcomes as both saw them):\n${opList(ops, outcomes, i)}`,
          i + 1,
        );
      }
      outcomes.push(oa);
    }
    const [sa, sb] = [await snapshotTree(a), await snapshotTree(b)];
    if (opts.compareTrees !== false) {
      const diffs = diffSnapshots(sa, sb, a.label, b.label);
      if (diffs.length > 0) {
        throw new OracleMismatch(
          `${ctx}final trees differ after ${ops.length} operations:\n  ${diffs.slice(0, 20).join('\n  ')}` +
          `${diffs.length > 20 ? `\n  ... ${diffs.length - 20} more` : ''}\n` +
          `operations:\n${opList(ops, outcomes, ops.length)}`,
          'final tree',
        );
      }
    }
    return { outcomes, snapshot: sa };
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    const cleaned = await Promise.allSettled([a.cleanup(), b.cleanup()]);
    const bad = cleaned.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    // A failed cleanup must not hide the mismatch that came first.
    if (bad && failure === undefined) throw bad.reason;
  }
}

/** A plain directory target (node:fs/promises on a fresh temp dir filled by `fill`). */
export async function makeDirTarget(label: string, fill: (dir: string) => Promise<void>): Promise<OwnedTarget & { dir: string }> {
  const base = await tempBase('ufs-oracle-dir-');
  const dir = path.join(base, 'root');
  try {
    await fsp.mkdir(dir);
    await fill(dir);
  } catch (e) {
    await removeBase(base);
    throw e;
  }
  return {
    label,
    dir,
    fs: fsp,
    p: (rel: string) => (rel === '' ? dir : path.join(dir, rel)),
    cleanup: () => removeBase(base),
  };
}
