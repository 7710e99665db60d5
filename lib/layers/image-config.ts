// Image metadata as OCI and Docker write it: media types, descriptors, manifests, indexes and image
// configs, parsed with shape checks (malformed JSON is EINVAL) and built canonically for export.
import { fsError } from '../errors.js';
import { isDigest, sha256, type Digest } from './digest.js';

export const MediaType = {
  ociLayout: 'application/vnd.oci.image.layout.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondist: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeign: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

/** The annotation that names an image in an OCI layout's index.json. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

export const MANIFEST_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];
export const INDEX_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList];
export const LAYER_TYPES: readonly string[] = [
  MediaType.ociLayer, MediaType.ociLayerGzip, MediaType.ociLayerZstd, MediaType.ociLayerNondist,
  MediaType.ociLayerNondistGzip, MediaType.ociLayerNondistZstd, MediaType.dockerLayer,
  MediaType.dockerLayerGzip, MediaType.dockerLayerForeign,
];

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** The runtime part of an image config (OCI's "config" object); unknown fields are kept as they are. */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  [key: string]: unknown;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
  [key: string]: unknown;
}

function invalid(what: string, why: string, path?: string): Error {
  return fsError('EINVAL', 'parse', path, undefined, `invalid ${what}: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses JSON bytes, turning syntax errors into EINVAL. */
export function parseJson(bytes: Buffer | string, what: string, path?: string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8')) as unknown;
  } catch (e) {
    throw invalid(what, (e as Error).message, path);
  }
}

export function parseDescriptor(v: unknown, what: string, path?: string): Descriptor {
  if (!isObject(v)) throw invalid(what, 'not an object', path);
  if (typeof v.mediaType !== 'string') throw invalid(what, 'mediaType missing', path);
  if (!isDigest(v.digest)) throw invalid(what, `bad digest ${JSON.stringify(v.digest)}`, path);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) throw invalid(what, `bad size ${JSON.stringify(v.size)}`, path);
  const d: Descriptor = { mediaType: v.mediaType, digest: v.digest, size: v.size };
  if (isObject(v.annotations)) d.annotations = stringRecord(v.annotations);
  if (Array.isArray(v.urls)) d.urls = v.urls.filter((u): u is string => typeof u === 'string');
  if (isObject(v.platform) && typeof v.platform.architecture === 'string' && typeof v.platform.os === 'string') {
    d.platform = v.platform as unknown as Platform;
  }
  return d;
}

function stringRecord(o: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) if (typeof val === 'string') out[k] = val;
  return out;
}

export function parseManifest(bytes: Buffer, path?: string): Manifest {
  const v = parseJson(bytes, 'image manifest', path);
  if (!isObject(v)) throw invalid('image manifest', 'not an object', path);
  if (v.schemaVersion !== 2) throw invalid('image manifest', `schemaVersion ${JSON.stringify(v.schemaVersion)} (only 2 is supported)`, path);
  if (v.mediaType !== undefined && !MANIFEST_TYPES.includes(String(v.mediaType))) throw invalid('image manifest', `media type ${String(v.mediaType)}`, path);
  if (!Array.isArray(v.layers)) throw invalid('image manifest', 'layers missing', path);
  const m: Manifest = {
    schemaVersion: 2,
    config: parseDescriptor(v.config, 'manifest config descriptor', path),
    layers: v.layers.map((l, i) => parseDescriptor(l, `manifest layer ${i}`, path)),
  };
  if (typeof v.mediaType === 'string') m.mediaType = v.mediaType;
  if (isObject(v.annotations)) m.annotations = stringRecord(v.annotations);
  for (const l of m.layers) {
    if (!LAYER_TYPES.includes(l.mediaType)) throw invalid('image manifest', `unsupported layer media type ${l.mediaType}`, path);
  }
  return m;
}

export function parseIndex(bytes: Buffer, path?: string): ImageIndex {
  const v = parseJson(bytes, 'image index', path);
  if (!isObject(v)) throw invalid('image index', 'not an object', path);
  if (v.schemaVersion !== 2) throw invalid('image index', `schemaVersion ${JSON.stringify(v.schemaVersion)}`, path);
  if (!Array.isArray(v.manifests)) throw invalid('image index', 'manifests missing', path);
  const idx: ImageIndex = { schemaVersion: 2, manifests: v.manifests.map((d, i) => parseDescriptor(d, `index entry ${i}`, path)) };
  if (typeof v.mediaType === 'string') idx.mediaType = v.mediaType;
  if (isObject(v.annotations)) idx.annotations = stringRecord(v.annotations);
  return idx;
}

export function parseImageConfig(bytes: Buffer, path?: string): ImageConfig {
  const v = parseJson(bytes, 'image config', path);
  if (!isObject(v)) throw invalid('image config', 'not an object', path);
  const rootfs = v.rootfs;
  if (!isObject(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) {
    throw invalid('image config', 'rootfs.diff_ids missing', path);
  }
  for (const d of rootfs.diff_ids) if (!isDigest(d)) throw invalid('image config', `bad diff_id ${JSON.stringify(d)}`, path);
  if (typeof v.architecture !== 'string' || typeof v.os !== 'string') throw invalid('image config', 'architecture/os missing', path);
  if (v.history !== undefined && !Array.isArray(v.history)) throw invalid('image config', 'history is not a list', path);
  return v as unknown as ImageConfig;
}

/** The architecture name OCI uses for this machine (Node's 'x64' is 'amd64'...). */
export function hostArchitecture(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}

/** A new image config for layers with these diffIDs (created now, host platform, empty runtime config). */
export function newImageConfig(diffIDs: Digest[], opts: { created?: Date; history?: HistoryEntry[]; config?: ContainerConfig } = {}): ImageConfig {
  const created = (opts.created ?? new Date()).toISOString();
  return {
    created,
    architecture: hostArchitecture(),
    os: 'linux',
    config: opts.config ?? {},
    rootfs: { type: 'layers', diff_ids: [...diffIDs] },
    history: opts.history ?? diffIDs.map(() => ({ created, created_by: 'ufs' })),
  };
}

/** Canonical JSON bytes (as written; their sha256 is the descriptor digest, the image ID for a config). */
export function jsonBytes(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v), 'utf8');
}

/** A descriptor for JSON bytes of a media type. */
export function descriptorOf(mediaType: string, bytes: Buffer, annotations?: Record<string, string>): Descriptor {
  const d: Descriptor = { mediaType, digest: sha256(bytes), size: bytes.length };
  if (annotations) d.annotations = annotations;
  return d;
}

/** The layer media type of a manifest family for a compression. */
export function layerMediaType(family: 'oci' | 'docker', compression: 'none' | 'gzip' | 'zstd'): string {
  if (family === 'docker') {
    if (compression === 'zstd') throw fsError('ENOTSUP', 'export', undefined, undefined, 'Docker schema2 manifests have no zstd layer type: use OCI');
    return compression === 'gzip' ? MediaType.dockerLayerGzip : MediaType.dockerLayer;
  }
  return compression === 'gzip' ? MediaType.ociLayerGzip : compression === 'zstd' ? MediaType.ociLayerZstd : MediaType.ociLayer;
}

/**
 * Splits an image reference `name[:tag]` (tag defaults to 'latest'); a digest reference
 * `name@sha256:...` keeps its digest. Registry hosts with ports ('host:5000/name') are handled.
 */
export function parseRef(ref: string): { name: string; tag: string; digest?: Digest } {
  const at = ref.indexOf('@');
  if (at >= 0) {
    const digest = ref.slice(at + 1);
    if (!isDigest(digest)) throw fsError('EINVAL', 'parse', ref, undefined, 'invalid digest in image reference');
    const { name, tag } = parseRef(ref.slice(0, at));
    return { name, tag, digest };
  }
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return { name: ref.slice(0, colon), tag: ref.slice(colon + 1) || 'latest' };
  return { name: ref, tag: 'latest' };
}

/**
 * The fully qualified form of a reference as Docker normalises it: `alpine` → `docker.io/library/alpine:latest`,
 * `me/app:v1` → `docker.io/me/app:v1`; names whose first part looks like a host are kept.
 */
export function normalizeRef(ref: string): string {
  const { name, tag, digest } = parseRef(ref);
  let full = name;
  const first = name.split('/')[0]!;
  if (!name.includes('/')) full = `docker.io/library/${name}`;
  else if (!first.includes('.') && !first.includes(':') && first !== 'localhost') full = `docker.io/${name}`;
  return digest ? `${full}@${digest}` : `${full}:${tag}`;
}
