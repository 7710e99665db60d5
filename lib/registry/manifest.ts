// Manifest formats the registry client speaks (OCI manifest and index, Docker schema 2 manifest and
// manifest list): media types, parsing with validation, digests, and platform selection from an index.
import { createHash } from 'node:crypto';
import { fsError } from '../errors.js';

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

/** The Accept header for manifest requests: every format this client understands. */
export const MANIFEST_ACCEPT = [
  MediaTypes.ociIndex, MediaTypes.ociManifest, MediaTypes.dockerManifestList, MediaTypes.dockerManifest,
].join(', ');

/** Manifests bigger than this are refused (containerd and the distribution spec use 4 MiB). */
export const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; index: ImageIndex };

export function isIndexType(mediaType: string): boolean {
  return mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerManifestList;
}

export function isManifestType(mediaType: string): boolean {
  return mediaType === MediaTypes.ociManifest || mediaType === MediaTypes.dockerManifest;
}

/** Layers a registry may refuse to store (Windows base layers): never uploaded when absent locally. */
export function isNonDistributable(mediaType: string): boolean {
  return mediaType === MediaTypes.dockerForeignLayer || mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.');
}

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The digest of `bytes` with the algorithm of `like` (sha256 or sha512). */
export function digestLike(like: string, bytes: Uint8Array): string {
  const alg = like.split(':')[0] ?? 'sha256';
  return `${alg}:${createHash(alg).update(bytes).digest('hex')}`;
}

function bad(what: string, why: string): Error {
  return fsError('EINVAL', 'parseManifest', what, undefined, `malformed manifest: ${why}`);
}

function checkDescriptor(d: unknown, where: string, what: string): Descriptor {
  if (typeof d !== 'object' || d === null) throw bad(what, `${where} is not an object`);
  const o = d as Record<string, unknown>;
  if (typeof o.mediaType !== 'string') throw bad(what, `${where}.mediaType is missing`);
  if (typeof o.digest !== 'string' || !/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(o.digest)) {
    throw bad(what, `${where}.digest is missing or malformed`);
  }
  if (!/^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/.test(o.digest)) throw bad(what, `${where}.digest '${o.digest}' uses an unsupported algorithm`);
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw bad(what, `${where}.size is missing or negative`);
  return o as unknown as Descriptor;
}

/**
 * Parses manifest bytes. `contentType` (from the HTTP response or a descriptor) wins over the
 * document's own `mediaType`; a document with neither is recognised by its shape.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string, what = 'manifest'): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw bad(what, `not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad(what, 'not a JSON object');
  const o = doc as Record<string, unknown>;
  const ct = contentType?.split(';')[0]?.trim();
  let mediaType = ct && ct !== 'application/json' && ct !== 'text/plain' && ct !== 'application/octet-stream'
    ? ct : typeof o.mediaType === 'string' ? o.mediaType : '';
  if (mediaType === MediaTypes.dockerSchema1 || mediaType === MediaTypes.dockerSchema1Signed || o.schemaVersion === 1) {
    throw fsError('ENOTSUP', 'parseManifest', what, undefined, 'Docker schema 1 manifests are not supported (deprecated by every registry)');
  }
  if (mediaType === '') mediaType = Array.isArray(o.manifests) ? MediaTypes.ociIndex : MediaTypes.ociManifest;
  if (o.schemaVersion !== 2) throw bad(what, `schemaVersion is ${JSON.stringify(o.schemaVersion)}, expected 2`);
  if (typeof o.mediaType === 'string' && o.mediaType !== mediaType) {
    throw bad(what, `document says mediaType ${o.mediaType} but was served as ${mediaType}`);
  }
  if (isIndexType(mediaType)) {
    if (!Array.isArray(o.manifests)) throw bad(what, 'index has no manifests array');
    o.manifests.forEach((d, i) => checkDescriptor(d, `manifests[${i}]`, what));
    return { kind: 'index', mediaType, index: o as unknown as ImageIndex };
  }
  if (isManifestType(mediaType)) {
    checkDescriptor(o.config, 'config', what);
    if (!Array.isArray(o.layers)) throw bad(what, 'manifest has no layers array');
    o.layers.forEach((d, i) => checkDescriptor(d, `layers[${i}]`, what));
    return { kind: 'manifest', mediaType, manifest: o as unknown as ImageManifest };
  }
  throw fsError('ENOTSUP', 'parseManifest', what, undefined, `unsupported manifest media type '${mediaType}'`);
}

const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64', 'x86-64': 'amd64', x64: 'amd64', aarch64: 'arm64', i386: '386', ia32: '386', armhf: 'arm', armel: 'arm',
};

/** Normalises like containerd: aarch64 -> arm64 (variant v8 by default), arm -> v7 by default. */
export function normalizePlatform(p: Platform): Platform {
  const out: Platform = { ...p, os: p.os.toLowerCase(), architecture: p.architecture.toLowerCase() };
  out.architecture = ARCH_ALIASES[out.architecture] ?? out.architecture;
  if (out.variant !== undefined) out.variant = out.variant.toLowerCase();
  if (out.architecture === 'arm64' && (out.variant === undefined || out.variant === '8')) out.variant = 'v8';
  if (out.architecture === 'arm' && out.variant === undefined) out.variant = 'v7';
  if (out.architecture === 'arm' && /^[5-8]$/.test(out.variant ?? '')) out.variant = `v${out.variant}`;
  if (out.architecture === 'amd64' && out.variant === 'v1') delete out.variant;
  return out;
}

/** Parses `os/arch[/variant]` (e.g. `linux/arm64/v8`); throws EINVAL on anything else. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => !/^[A-Za-z0-9_.-]+$/.test(x))) {
    throw fsError('EINVAL', 'parsePlatform', s, undefined, `invalid platform '${s}' (expected os/arch[/variant], e.g. linux/arm64/v8)`);
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2] !== undefined) p.variant = parts[2];
  return normalizePlatform(p);
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** This machine's platform, from process.platform and process.arch. */
export function hostPlatform(): Platform {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  const archMap: Record<string, string> = { x64: 'amd64', ia32: '386', ppc64: 'ppc64le', arm64: 'arm64', arm: 'arm' };
  const p: Platform = { os, architecture: archMap[process.arch] ?? process.arch };
  if (process.arch === 'arm') {
    const v = (process.config.variables as Record<string, unknown>).arm_version;
    if (typeof v === 'string' || typeof v === 'number') p.variant = `v${v}`;
  }
  return normalizePlatform(p);
}

/** How well an index entry serves the wanted platform: -1 no, higher is better. */
function score(want: Platform, have: Platform | undefined): number {
  if (have === undefined) return -1;
  const h = normalizePlatform(have);
  if (h.os !== want.os || h.architecture !== want.architecture) return -1;
  if (want.variant === undefined || h.variant === want.variant) return 2;
  // A v7 machine also runs v6 and v5 images (the best variant first); likewise arm64 v8 for v8.x.
  const wv = Number(want.variant?.replace(/^v/, ''));
  const hv = Number(h.variant?.replace(/^v/, ''));
  if (h.architecture === 'arm' && Number.isFinite(wv) && Number.isFinite(hv) && hv < wv) return 1 - (wv - hv) / 10;
  return -1;
}

/** Picks the manifest for `platform` from an index, skipping attestations; throws ENOENT naming what is there. */
export function selectPlatform(index: ImageIndex, platform: Platform, what = 'index'): Descriptor {
  const want = normalizePlatform(platform);
  let best: Descriptor | undefined;
  let bestScore = -1;
  for (const d of index.manifests) {
    if (d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') continue;
    if (!isManifestType(d.mediaType) && !isIndexType(d.mediaType)) continue;
    const s = score(want, d.platform);
    if (s > bestScore) {
      best = d;
      bestScore = s;
    }
  }
  if (best === undefined) {
    const have = index.manifests.filter((d) => d.platform && d.platform.os !== 'unknown').map((d) => formatPlatform(normalizePlatform(d.platform!)));
    throw fsError('ENOENT', 'selectPlatform', what, undefined,
      `no manifest for platform ${formatPlatform(want)} (the index has: ${have.join(', ') || 'no platforms'})`);
  }
  return best;
}
