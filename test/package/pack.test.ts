// Packs the package (npm pack), installs the tarball into an empty project and uses it there from
// TypeScript (types must resolve) and from plain JavaScript, as another runtime would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import fsp from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { cleanupTemps, tempDir } from '../helpers/tmp.js';

const root = path.resolve(import.meta.dirname, '../..');
let project = '';

beforeAll(async () => {
  // `make test` builds first; a bare `vitest run` builds here when dist/ is missing.
  if (!existsSync(path.join(root, 'dist/lib/index.js'))) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root });
  const dir = await tempDir('ufs-pack-');
  const out = execFileSync('npm', ['pack', '--pack-destination', dir, '--ignore-scripts', '--json'], { cwd: root, encoding: 'utf8' });
  const tarball = path.join(dir, (JSON.parse(out) as Array<{ filename: string }>)[0]!.filename);
  project = path.join(dir, 'consumer');
  await fsp.mkdir(project);
  await fsp.writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=optional', tarball], { cwd: project, stdio: 'pipe' });
}, 240_000);
afterAll(cleanupTemps);

describe('the packed package', () => {
  it('ships the built library and its types, not the sources or tests', async () => {
    const files = (await fsp.readdir(path.join(project, 'node_modules/ufs'), { recursive: true })).map(String);
    expect(files).toContain(path.join('dist', 'lib', 'index.js'));
    expect(files).toContain(path.join('dist', 'lib', 'index.d.ts'));
    expect(files.some((f) => f.startsWith('test'))).toBe(false);
    expect(files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toBe(false);
  });

  it('works from plain JavaScript', async () => {
    await fsp.mkdir(path.join(project, 'layer/etc'), { recursive: true });
    await fsp.writeFile(path.join(project, 'layer/etc/os-release'), 'ID=test\n');
    await fsp.writeFile(
      path.join(project, 'main.mjs'),
      `import { UnionFs } from 'ufs';\nconst u = await UnionFs.open({ lowerdir: ['layer'] });\nconsole.log(await u.readFile('/etc/os-release', 'utf8'));\n`,
    );
    expect(execFileSync(process.execPath, ['main.mjs'], { cwd: project, encoding: 'utf8' })).toBe('ID=test\n\n');
  });

  it('type-checks from TypeScript (types resolve, misuse is an error)', async () => {
    await fsp.writeFile(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2022', strict: true, noEmit: true, types: ['node'], typeRoots: [path.join(root, 'node_modules/@types')] } }),
    );
    await fsp.writeFile(
      path.join(project, 'good.ts'),
      `import { UnionFs, type UnionOptions } from 'ufs';\nconst o: UnionOptions = { lowerdir: ['layer'] };\nconst u = await UnionFs.open(o);\nconst s: number = (await u.stat('/etc')).size;\nexport { s };\n`,
    );
    const tsc = path.join(root, 'node_modules/.bin/tsc');
    execFileSync(tsc, ['-p', '.'], { cwd: project, encoding: 'utf8' });
    await fsp.writeFile(path.join(project, 'bad.ts'), `import { UnionFs } from 'ufs';\nawait UnionFs.open({ lowerdirs: 'x' });\n`);
    let failed = '';
    try {
      execFileSync(tsc, ['-p', '.'], { cwd: project, encoding: 'utf8' });
    } catch (e) {
      failed = String((e as { stdout?: string }).stdout);
    }
    expect(failed).toContain('lowerdirs');
  });
});
