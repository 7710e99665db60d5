// The depth goal's own measurement: stat of the bottom-layer file through the 20- and the 100-layer
// stack of one target, timed in alternating batches in one loop, so both depths see the same heap,
// JIT state and machine load (timed one after the other, minutes apart, their difference is mostly
// what the process did in between).
import { TARGET_REL } from './data.js';
import type { MicroView } from './targets.js';
import { since, summarize, type Summary } from '../lib/stats.js';

export interface PairedDepths {
  shallow: Summary;
  deep: Summary;
  /** Per-operation batch means of both, with the number of operations timed per depth. */
  ops: number;
}

/**
 * Times `rounds` batches of `batch` stats at each depth, alternating which depth goes first; a batch's
 * sample is its mean time per stat. The first round is a warm-up and not counted.
 */
export async function pairedDepthStat(shallow: MicroView, deep: MicroView, rounds: number, batch: number): Promise<PairedDepths> {
  const ps = shallow.path(TARGET_REL);
  const pd = deep.path(TARGET_REL);
  for (const [v, p] of [[shallow, ps], [deep, pd]] as const) {
    const st = (await v.fs.stat(p)) as { size?: number };
    if (st.size !== 4096) throw new Error(`stat ${TARGET_REL}: size ${String(st.size)}, expected 4096`);
  }
  const time = async (v: MicroView, p: string): Promise<number> => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) await v.fs.stat(p);
    return since(t) / batch;
  };
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r <= rounds; r++) {
    let sa: number;
    let sb: number;
    if (r % 2 === 0) {
      sa = await time(shallow, ps);
      sb = await time(deep, pd);
    } else {
      sb = await time(deep, pd);
      sa = await time(shallow, ps);
    }
    if (r === 0) continue;
    a.push(sa);
    b.push(sb);
  }
  return { shallow: summarize(a), deep: summarize(b), ops: rounds * batch };
}
