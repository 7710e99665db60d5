// Digests, chainIDs, references and compression detection: the small pure helpers of lib/layers.
import { describe, it, expect, afterAll } from 'vitest';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { chainID, chainIDs, DigestStream, isDigest, parseDigest, sha256, type Digest } from '../../lib/layers/digest.js';
import { decompressor, detectCompression, peek } from '../../lib/layers/compression.js';
import { normalizeRef, parseRef } from '../../lib/layers/image-config.js';
import { UfsError } from '../../lib/errors.js';
import { cleanupTemp, collect, run, sha256hex, tempDir } from './helpers.js';

afterAll(cleanupTemp);

describe('digests and chainIDs', () => {
  it('chainID(L1) = diffID(L1), chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)), as sha256sum computes it', async () => {
    const d1 = sha256('layer one');
    const d2 = sha256('layer two');
    const d3 = sha256('layer three');
    const dir = await tempDir();
    const f = path.join(dir, 'c2');
    await fsp.writeFile(f, `${d1} ${d2}`);
    const c2 = `sha256:${(await run('sha256sum', [f])).stdout.split(' ')[0]!}`;
    expect(chainIDs([d1, d2, d3])).toEqual([d1, c2, sha256(`${c2} ${d3}`)]);
    expect(chainID([d1])).toBe(d1);
    expect(() => chainID([])).toThrow(UfsError);
    expect(() => chainIDs(['sha256:xyz' as Digest])).toThrow(/invalid diffID/);
  });

  it('parses only well-formed digests', () => {
    expect(isDigest(sha256(''))).toBe(true);
    expect(isDigest(`sha512:${'a'.repeat(128)}`)).toBe(true);
    for (const bad of ['sha256:ABC', `sha256:${'A'.repeat(64)}`, `md5:${'a'.repeat(32)}`, 'sha256', `sha256:${'a'.repeat(63)}`, 42]) {
      expect(isDigest(bad)).toBe(false);
    }
    expect(() => parseDigest('nope')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('DigestStream verifies content and size as it streams', async () => {
    const data = Buffer.from('some bytes');
    const ok = new DigestStream({ expect: sha256(data), expectSize: data.length });
    expect(await collect(Readable.from([data]).pipe(ok))).toEqual(data);
    expect(ok.digest()).toBe(sha256(data));
    for (const opts of [{ expect: sha256('other') }, { expect: sha256(data), expectSize: 3 }, { expect: sha256(data), expectSize: 100 }]) {
      const err = await pipeline(Readable.from([data]), new DigestStream(opts), async function* (src) { for await (const _ of src) yield _; }).catch((e: unknown) => e);
      expect((err as UfsError).code).toBe('EINTEGRITY');
    }
  });
});

describe('references', () => {
  it('splits name, tag and digest, and normalises like Docker', () => {
    expect(parseRef('alpine')).toEqual({ name: 'alpine', tag: 'latest' });
    expect(parseRef('localhost:5000/a/b:v1')).toEqual({ name: 'localhost:5000/a/b', tag: 'v1' });
    expect(parseRef(`x@${sha256('')}`).digest).toBe(sha256(''));
    expect(normalizeRef('alpine')).toBe('docker.io/library/alpine:latest');
    expect(normalizeRef('me/app:v1')).toBe('docker.io/me/app:v1');
    expect(normalizeRef('quay.io/x/y:z')).toBe('quay.io/x/y:z');
    expect(normalizeRef('localhost/x')).toBe('localhost/x:latest');
  });
});

describe('compression', () => {
  it('detects formats from magic bytes', async () => {
    const dir = await tempDir();
    const f = path.join(dir, 'x');
    await fsp.writeFile(f, 'hello '.repeat(100));
    await run('gzip', ['-k', f]);
    await run('zstd', ['-q', f, '-o', `${f}.zst`]);
    expect(detectCompression(await fsp.readFile(`${f}.gz`))).toBe('gzip');
    expect(detectCompression(await fsp.readFile(`${f}.zst`))).toBe('zstd');
    expect(detectCompression(Buffer.from([0x50, 0x2a, 0x4d, 0x18, 0, 0]))).toBe('zstd');
    expect(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]))).toBe('xz');
    expect(detectCompression(Buffer.from('BZh9'))).toBe('bzip2');
    expect(detectCompression(await fsp.readFile(f))).toBe('none');
    expect(detectCompression(Buffer.alloc(0))).toBe('none');
  });

  it('peek puts the bytes back; zstd decodes multi-frame streams chunk by chunk', async () => {
    const dir = await tempDir();
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    await fsp.writeFile(a, Buffer.alloc(200_000, 7));
    await fsp.writeFile(b, 'tail');
    await run('zstd', ['-q', a, '-o', `${a}.zst`]);
    await run('zstd', ['-q', b, '-o', `${b}.zst`]);
    const both = Buffer.concat([await fsp.readFile(`${a}.zst`), await fsp.readFile(`${b}.zst`)]);
    const chunks = [];
    for (let i = 0; i < both.length; i += 1000) chunks.push(both.subarray(i, i + 1000));
    const src = Readable.from(chunks);
    const head = await peek(src, 4);
    expect(detectCompression(head)).toBe('zstd');
    const out = await collect(src.pipe(decompressor('zstd')));
    expect(sha256hex(out)).toBe(sha256hex(Buffer.concat([Buffer.alloc(200_000, 7), Buffer.from('tail')])));
  });
});
