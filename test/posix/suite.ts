// The shared POSIX-style suite: definePosixSuite(label, setup) registers every case against one
// target (plain directory, UnionFs, FUSE mount); each case runs in its own fresh sub-directory.
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { CaseContext, PosixCase } from './harness.js';
import type { PosixTarget } from './types.js';
import { fileCases } from './cases-files.js';
import { dirCases } from './cases-dirs.js';
import { renameCases } from './cases-rename.js';
import { linkCases } from './cases-links.js';
import { metaCases } from './cases-meta.js';
import { nameCases } from './cases-names.js';
import { specialCases } from './cases-special.js';

export type { PosixTarget, PosixFs, PosixCaps } from './types.js';
export { probeCaps, nodeFsTarget, plainDirTarget } from './node-target.js';

/** Every case of the suite, grouped by area. */
export const posixCaseGroups: Record<string, PosixCase[]> = {
  files: fileCases,
  directories: dirCases,
  rename: renameCases,
  links: linkCases,
  metadata: metaCases,
  names: nameCases,
  special: specialCases,
};

const allCases = (): PosixCase[] => Object.values(posixCaseGroups).flat();

/** The directory (relative to the target root) case number `i` runs in. */
function caseDirName(i: number): string {
  return `c${String(i).padStart(3, '0')}`;
}

/**
 * The names of all case directories, so a runner can create them beforehand, for example in a
 * lower layer so that every case runs inside a merged directory that must be copied up.
 */
export function posixCaseDirNames(): string[] {
  return allCases().map((_, i) => caseDirName(i));
}

/** Finds a case by its exact title. */
export function findPosixCase(title: string): PosixCase {
  const found = allCases().find((c) => c.title === title);
  if (!found) throw new Error(`no POSIX case titled: ${title}`);
  return found;
}

/** Runs one case on a target in sub-directory `dir`: created here unless it exists and is empty. */
export async function runPosixCase(kase: PosixCase, t: PosixTarget, dir: string): Promise<void> {
  try {
    await t.fs.mkdir(t.p(dir));
  } catch (e) {
    const pre = (e as { code?: unknown }).code === 'EEXIST' ? await t.fs.readdir(t.p(dir)) : null;
    if (pre === null || pre.length > 0) throw e;
  }
  const c: CaseContext = {
    fs: t.fs,
    p: (rel) => t.p(rel === '' ? dir : `${dir}/${rel}`),
    caps: t.caps,
    realDir: t.root === null ? null : `${t.root}/${dir}`,
  };
  await kase.run(c);
}

export interface PosixSuiteOptions {
  /** Exact titles of cases this target does not pass yet: registered with it.fails, so they flag a fix. */
  knownFailures?: string[];
  /** Why this target cannot run here (e.g. 'needs root and overlayfs'): every case is skipped. */
  unavailable?: string | null;
}

/** Registers `describe(label)` with every case; `setup` runs once before them, `cleanup` after. */
export function definePosixSuite(
  label: string,
  setup: () => Promise<PosixTarget>,
  opts: PosixSuiteOptions = {},
): void {
  const titles = allCases().map((c) => c.title);
  const dup = titles.find((t, i) => titles.indexOf(t) !== i);
  if (dup !== undefined) throw new Error(`duplicate POSIX case title: ${dup}`);
  const unknown = (opts.knownFailures ?? []).filter((t) => !titles.includes(t));
  if (unknown.length > 0) throw new Error(`knownFailures names no case: ${unknown.join(' | ')}`);
  const known = new Set(opts.knownFailures ?? []);

  const why = opts.unavailable ?? null;
  describe.skipIf(why !== null)(why === null ? label : `${label} (skipped: ${why})`, () => {
    let target: PosixTarget | undefined;
    beforeAll(async () => {
      target = await setup();
    });
    afterAll(async () => {
      await target?.cleanup();
    });

    let index = 0;
    for (const [group, cases] of Object.entries(posixCaseGroups)) {
      describe(group, () => {
        for (const kase of cases) {
          const dir = caseDirName(index++);
          const register = known.has(kase.title) ? it.fails : it;
          register(kase.title, async (ctx) => {
            if (!target) throw new Error('POSIX target setup failed');
            const missing = kase.needs?.(target);
            if (missing) ctx.skip(missing);
            await runPosixCase(kase, target, dir);
          });
        }
      });
    }
  });
}
