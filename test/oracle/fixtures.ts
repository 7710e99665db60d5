// Oracle fixture cache for tests: the fixture of each (seed, format) is written once into a temp
// root, and every run copies it (cp -a) instead of building it again.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { buildFixture, buildMergedTree, convertAufsToOverlay, makeFixtureSpec, type FixtureSpec, type WhiteoutFormatName } from './layers.js';
import { removeBase, tempBase } from './kernel.js';

export type TemplateKind = WhiteoutFormatName | 'aufs-converted';

export class FixtureCache {
  private root: Promise<string> | undefined;
  private readonly built = new Map<string, Promise<string[]>>();

  constructor(readonly nLayers = 3) {}

  private base(): Promise<string> {
    this.root ??= tempBase('ufs-oracle-fixtures-');
    return this.root;
  }

  spec(seed: number): FixtureSpec {
    return makeFixtureSpec(seed, this.nLayers);
  }

  /** The layer directories (topmost first) of the fixture for `seed` in `kind`; built on first use. */
  layers(seed: number, kind: TemplateKind): Promise<string[]> {
    const key = `${seed}-${kind}`;
    let p = this.built.get(key);
    if (!p) {
      p = (async () => {
        const dir = path.join(await this.base(), key);
        const dirs = Array.from({ length: this.nLayers }, (_, i) => path.join(dir, `l${i}`));
        for (const d of dirs) await fsp.mkdir(d, { recursive: true });
        if (kind === 'aufs-converted') await convertAufsToOverlay(await this.layers(seed, 'aufs'), dirs);
        else await buildFixture(this.spec(seed), kind, dirs);
        return dirs;
      })();
      this.built.set(key, p);
    }
    return p;
  }

  /** Fills `dir` with the already-merged tree of the fixture for `seed`. */
  fillMerged(seed: number, dir: string): Promise<void> {
    return buildMergedTree(this.spec(seed), dir);
  }

  async dispose(): Promise<void> {
    if (this.root) await removeBase(await this.root);
    this.root = undefined;
    this.built.clear();
  }
}
