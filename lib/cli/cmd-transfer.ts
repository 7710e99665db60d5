// `ufs image import|load|save|export` and `ufs pull|push`: images between the store and OCI/Docker
// formats or registries, with progress on a terminal (stderr) and none when it is not one.
import fs from 'node:fs';
import { registerCommand, type CommandContext } from './commands.js';
import { UsageError, json } from './output.js';
import { exportImage, importFrom, importLayerTarball, loadImages, saveImages, type TransferProgress } from '../layers/image-transfer.js';
import { isErrno } from '../errors.js';
import { ProgressRenderer, formatBytes, type ProgressCallback } from '../registry/progress.js';
import { pullImage, pushImage } from '../registry/store-transfer.js';
import type { PullOptions } from '../registry/pull.js';

/**
 * A one-line progress for imports/exports, redrawn in place on a TTY; nothing otherwise. Imports
 * apply several layers at once, so the line sums the bytes of every layer and counts the layers
 * begun (and those found in the store already) rather than naming one layer.
 */
function transferProgress(verb: string): ((p: TransferProgress & { ref?: string }) => void) | undefined {
  const tty = process.stderr.isTTY === true;
  if (!tty) return undefined;
  let last = 0;
  const bytes = new Map<number, number>();
  const reused = new Set<number>();
  return (p) => {
    if (p.reused) reused.add(p.layer);
    else bytes.set(p.layer, p.bytes);
    const now = Date.now();
    if (now - last < 100 && p.bytes > 0) return;
    last = now;
    let sum = 0;
    for (const b of bytes.values()) sum += b;
    const inStore = reused.size > 0 ? `, ${reused.size} already in the store` : '';
    process.stderr.write(`\r\x1b[K${verb}${p.ref ? ` ${p.ref}` : ''}: ${bytes.size + reused.size}/${p.layers} layers begun${inStore}, ${formatBytes(sum)}`);
  };
}

function endProgress(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
}

function str(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** `DIR:tag` when DIR exists and `DIR:tag` itself does not (an OCI layout and one of its names). */
function splitSource(src: string): { path: string; ref?: string } {
  if (fs.existsSync(src)) return { path: src };
  const i = src.lastIndexOf(':');
  if (i > 0 && fs.existsSync(src.slice(0, i))) return { path: src.slice(0, i), ref: src.slice(i + 1) };
  return { path: src };
}

/** Registry options from the command line and the environment. */
function registryOptions(ctx: CommandContext): PullOptions {
  const o: PullOptions = {};
  if (ctx.values.insecure === true) o.insecure = true;
  const user = str(ctx, 'username');
  if (user !== undefined) o.username = user;
  if (ctx.values['password-stdin'] === true) {
    if (user === undefined) throw new UsageError('--password-stdin needs --username');
    o.password = fs.readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  }
  const platform = str(ctx, 'platform');
  if (platform !== undefined) o.platform = platform;
  return o;
}

const REGISTRY_HELP = `  --insecure          allow plain HTTP and unverified TLS to any registry (loopback needs no flag)
  --username USER     log in as USER (password from --password-stdin or UFS_REGISTRY_PASSWORD);
                      otherwise credentials come from UFS_REGISTRY_USER/UFS_REGISTRY_PASSWORD or
                      Docker's config.json (\`auths\`, $DOCKER_CONFIG or ~/.docker)
  --password-stdin    read the password from standard input`;

const REGISTRY_OPTIONS = {
  insecure: { type: 'boolean' as const },
  username: { type: 'string' as const },
  'password-stdin': { type: 'boolean' as const },
};

registerCommand(
  {
    words: ['image', 'import'],
    aliases: [['import']],
    summary: 'Import an image: an OCI layout (DIR or DIR:tag), an OCI or docker-save archive, or a layer tarball',
    usage: 'image import SOURCE [--tag NAME]... [--parent LAYER] [--json]',
    help: [
      'Every blob and diffID is verified while it streams; on a mismatch nothing is left behind.',
      'Layers the store already has are not imported again. A plain layer tarball (tar, gzip or zstd)',
      'becomes one layer on --parent (default: none); with --tag also an image of that layer stack.',
      '  -t, --tag NAME     name the image (repeatable; default: the name the source gives it)',
      '  --parent LAYER     for a layer tarball: the layer it stands on',
    ].join('\n'),
    options: { tag: { type: 'string', short: 't', multiple: true }, parent: { type: 'string' } },
    arity: [1, 1],
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const tags = (ctx.values.tag as string[] | undefined) ?? [];
      const src = splitSource(ctx.args[0]!);
      const onProgress = ctx.json ? undefined : transferProgress('importing');
      try {
        const r = await importFrom(st, src.path, {
          ...(src.ref !== undefined ? { ref: src.ref } : {}),
          ...(tags.length ? { tags } : {}),
          ...(onProgress ? { onProgress } : {}),
        });
        endProgress();
        if (ctx.json) return ctx.out(json(r));
        ctx.out(`Imported ${r.image.id} (${r.layersImported} layers imported, ${r.layersReused} already in the store)${r.image.tags.length ? ` as ${r.image.tags.join(', ')}` : ''}`);
      } catch (e) {
        endProgress();
        // Neither a layout nor an image archive: a plain layer tarball.
        if (!(isErrno(e, 'EINVAL') && /neither an OCI image layout/.test((e as Error).message)) || src.ref !== undefined || fs.statSync(src.path).isDirectory()) throw e;
        if (tags.length > 1) throw new UsageError('a layer tarball becomes one image: give at most one --tag');
        const parent = str(ctx, 'parent');
        const r = await importLayerTarball(st, src.path, { ...(parent !== undefined ? { parent } : {}), ...(tags[0] !== undefined ? { tag: tags[0] } : {}) });
        if (ctx.json) return ctx.out(json(r));
        ctx.out(r.image ? `Imported layer ${r.layer.chainID} and image ${r.image.id} as ${r.image.tags.join(', ')}` : `Imported layer ${r.layer.chainID}`);
      }
    },
  },
  {
    words: ['image', 'load'],
    aliases: [['load']],
    summary: 'Load every image of an archive (docker save or OCI), like docker load',
    usage: 'image load -i FILE [--json]',
    options: { input: { type: 'string', short: 'i' } },
    json: true,
    async run(ctx) {
      const input = str(ctx, 'input');
      if (input === undefined) throw new UsageError("'ufs image load' needs -i FILE");
      const st = await ctx.store();
      const onProgress = ctx.json ? undefined : transferProgress('loading');
      try {
        const rs = await loadImages(st, input, onProgress ? { onProgress } : {});
        endProgress();
        if (ctx.json) return ctx.out(json(rs));
        for (const r of rs) ctx.out(r.image.tags.length ? r.image.tags.map((t) => `Loaded image: ${t}`).join('\n') : `Loaded image ID: ${r.image.id}`);
      } finally {
        endProgress();
      }
    },
  },
  {
    words: ['image', 'save'],
    aliases: [['save']],
    summary: 'Save images as one archive (docker save format, or an OCI archive)',
    usage: 'image save IMAGE... -o FILE [--format docker|oci]',
    help: "  -o, --output FILE   the archive ('-' for standard output)\n  --format F          docker (default; what docker load reads) or oci",
    options: { output: { type: 'string', short: 'o' }, format: { type: 'string' } },
    arity: [1, Infinity],
    async run(ctx) {
      const out = str(ctx, 'output');
      if (out === undefined) throw new UsageError("'ufs image save' needs -o FILE (or -o - for standard output)");
      const format = str(ctx, 'format') ?? 'docker';
      if (format !== 'docker' && format !== 'oci') throw new UsageError(`--format is docker or oci, not '${format}'`);
      if (out === '-' && process.stdout.isTTY) throw new UsageError('refusing to write an archive to a terminal');
      const st = await ctx.store();
      const onProgress = transferProgress('saving');
      try {
        await saveImages(st, ctx.args, out === '-' ? process.stdout : out, { format, ...(onProgress ? { onProgress: (p) => onProgress(p) } : {}) });
      } finally {
        endProgress();
      }
    },
  },
  {
    words: ['image', 'export'],
    summary: 'Write an image into an OCI image layout directory (created when missing)',
    usage: 'image export IMAGE DIR [--name TAG] [--docker-media-types] [--uncompressed] [--json]',
    help: [
      'Layer tarballs are deterministic (sorted, normalised), so a layer made by ufs keeps its digest.',
      '  --name TAG              the ref.name in index.json (default: the image\'s tag)',
      '  --docker-media-types    Docker schema 2 media types instead of OCI ones',
      '  --uncompressed          layers as plain tar instead of gzip',
    ].join('\n'),
    options: { name: { type: 'string' }, 'docker-media-types': { type: 'boolean' }, uncompressed: { type: 'boolean' } },
    arity: [2, 2],
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const onProgress = ctx.json ? undefined : transferProgress('exporting');
      try {
        const name = str(ctx, 'name');
        const r = await exportImage(st, ctx.args[0]!, ctx.args[1]!, {
          ...(name !== undefined ? { name } : {}),
          ...(ctx.values['docker-media-types'] === true ? { mediaTypes: 'docker' as const } : {}),
          ...(ctx.values.uncompressed === true ? { compression: 'none' as const } : {}),
          ...(onProgress ? { onProgress } : {}),
        });
        endProgress();
        if (ctx.json) return ctx.out(json(r));
        ctx.out(`Exported manifest ${r.manifest.digest} (config ${r.config.digest})`);
        if (r.rewritten) ctx.err('note: some layers had no record of their original bytes (imported by an older ufs, or not recordable) and were re-serialised: their diffIDs and the image ID differ from the store\'s');
      } finally {
        endProgress();
      }
    },
  },
  {
    words: ['pull'],
    aliases: [['image', 'pull']],
    summary: 'Pull an image from a registry into the store',
    usage: 'pull REF [--platform OS/ARCH[/VARIANT]] [--insecure] [--username USER [--password-stdin]] [--json]',
    help: `REF is [host[:port]/]path[:tag][@digest]; short names are Docker Hub's (ubuntu -> docker.io/library/ubuntu:latest).
Layers the store already has are not downloaded. Every blob is verified while it streams.
  --platform P        which platform to take from a multi-platform image (default: this machine's)
${REGISTRY_HELP}`,
    options: { platform: { type: 'string' }, ...REGISTRY_OPTIONS },
    arity: [1, 1],
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const renderer = ctx.json ? undefined : new ProgressRenderer(process.stderr);
      const opts: PullOptions = { ...registryOptions(ctx), ...(renderer ? { onProgress: renderer.callback } : {}) };
      const r = await pullImage(st, ctx.args[0]!, opts);
      if (ctx.json) return ctx.out(json({ image: r.image, manifestDigest: r.manifestDigest, layersImported: r.layersImported, layersReused: r.layersReused }));
      ctx.out(`Digest: ${r.manifestDigest}`);
      ctx.out(`Pulled ${r.image.tags[0] ?? r.image.id} (${r.layersImported} layers new, ${r.layersReused} already in the store)`);
    },
  },
  {
    words: ['push'],
    aliases: [['image', 'push']],
    summary: 'Push an image of the store to a registry',
    usage: 'push IMAGE [REF] [--from REPOSITORY] [--docker-media-types] [--insecure] [--username USER [--password-stdin]] [--json]',
    help: `Pushes IMAGE (a name or ID) to REF (default: IMAGE's own name). Blobs the registry has are skipped.
  --from REPO              a repository on the same registry that may hold the blobs (mounted, not uploaded)
  --docker-media-types     Docker schema 2 media types instead of OCI ones
${REGISTRY_HELP}`,
    options: { from: { type: 'string' }, 'docker-media-types': { type: 'boolean' }, ...REGISTRY_OPTIONS },
    arity: [1, 2],
    json: true,
    async run(ctx) {
      const st = await ctx.store();
      const renderer = ctx.json ? undefined : new ProgressRenderer(process.stderr);
      const from = str(ctx, 'from');
      const { platform: _unused, ...base } = registryOptions(ctx);
      const onProgress: ProgressCallback | undefined = renderer?.callback;
      const r = await pushImage(st, ctx.args[0]!, ctx.args[1], {
        ...base,
        ...(from !== undefined ? { from } : {}),
        ...(ctx.values['docker-media-types'] === true ? { mediaTypes: 'docker' as const } : {}),
        ...(onProgress ? { onProgress } : {}),
      });
      if (ctx.json) return ctx.out(json({ digest: r.digest, mediaType: r.mediaType, blobs: r.blobs, rewritten: r.rewritten }));
      ctx.out(`Digest: ${r.digest}`);
    },
  },
);
