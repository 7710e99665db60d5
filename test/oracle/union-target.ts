// Oracle union side: loads the engine (lib/union.ts) when it exists and opens UnionFs over fresh
// copies of fixture layers as a comparison target. Kept apart so tests and the hunt tool share it.
import { existsSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyTree, type WhiteoutFormatName } from './layers.js';
import type { FsLike, OwnedTarget } from './ops.js';
import { removeBase, tempBase } from './kernel.js';

/** The part of lib/union.ts the oracle needs (declared here so this compiles before the engine exists). */
export interface UnionLike {
  close(): Promise<void>;
}
export interface UnionEngine {
  UnionFs: {
    open(opts: { lowerdir: string[]; upperdir: string; workdir: string; whiteout: WhiteoutFormatName }): Promise<UnionLike>;
  };
}

export const unionEnginePath = fileURLToPath(new URL('../../lib/union.ts', import.meta.url));
/** Whether the engine's source exists (a missing engine is a reason to skip; a broken one is not). */
export const unionEngineExists = existsSync(unionEnginePath);

/** Imports lib/union.ts; rejects when it exists but does not load or lacks UnionFs.open. */
export async function loadUnionEngine(): Promise<UnionEngine> {
  const spec = '../../lib/union.js'; // not a literal: the file may not exist when this is compiled
  const mod = (await import(spec)) as Partial<UnionEngine>;
  if (typeof mod.UnionFs?.open !== 'function') throw new Error('lib/union.ts does not export UnionFs.open');
  return mod as UnionEngine;
}

/** UnionFs over fresh copies of `templates` (topmost first) with an empty upper and work dir. */
export async function makeUnionTarget(engine: UnionEngine, templates: string[], whiteout: WhiteoutFormatName): Promise<OwnedTarget> {
  const base = await tempBase('ufs-oracle-union-');
  const lowerdir = templates.map((_, i) => path.join(base, `l${i}`));
  const upperdir = path.join(base, 'upper');
  const workdir = path.join(base, 'work');
  let u: UnionLike;
  try {
    for (const d of [...lowerdir, upperdir, workdir]) await fsp.mkdir(d);
    for (let i = 0; i < templates.length; i++) await copyTree(templates[i]!, lowerdir[i]!);
    u = await engine.UnionFs.open({ lowerdir, upperdir, workdir, whiteout });
  } catch (e) {
    await removeBase(base);
    throw e;
  }
  return {
    label: `UnionFs (${whiteout})`,
    // UnionFs has node:fs/promises' methods; its declared overloads are wider than FsLike's.
    fs: u as unknown as FsLike,
    p: (rel: string) => `/${rel}`,
    async cleanup() {
      await u.close();
      await removeBase(base);
    },
  };
}
