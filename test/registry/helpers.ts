// Test helpers for the registry client: Debian's docker-registry on 127.0.0.1 (with or without htpasswd
// basic auth), small OCI images built with umoci, tree snapshots for comparison, and loopback node:http servers.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile, unlink } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const haveRegistry = existsSync(REGISTRY_BIN);
export const haveSkopeo = existsSync('/usr/bin/skopeo');
export const haveUmoci = existsSync('/usr/bin/umoci');

export async function tempDir(prefix = 'ufs-reg-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const { stdout } = await run(cmd, args, { ...opts, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = http.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * A bcrypt hash for htpasswd, made by libcrypt through perl's (or python3's) crypt():
 * apache2-utils' htpasswd is not installed on these machines. Undefined when neither can.
 */
export async function bcrypt(password: string): Promise<string | undefined> {
  const salt = '$2b$05$abcdefghijklmnopqrstuu';
  const tries: [string, string[]][] = [
    ['perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', password, salt]],
    ['python3', ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], sys.argv[2]), end="")', password, salt]],
  ];
  for (const [cmd, args] of tries) {
    try {
      const out = (await sh(cmd, args)).trim();
      if (out.startsWith('$2b$05$') && out.length === 60) return out;
    } catch {
      // try the next tool
    }
  }
  return undefined;
}

export interface RunningRegistry {
  host: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** Starts docker-registry on 127.0.0.1:<free port> with filesystem storage in a temp dir. */
export async function startRegistry(auth?: { user: string; hash: string }): Promise<RunningRegistry> {
  const dir = await tempDir('ufs-registry-');
  const port = await freePort();
  let yaml = [
    'version: 0.1',
    'log:', '  level: error', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`, '  delete:', '    enabled: true',
    'http:', `  addr: 127.0.0.1:${port}`,
  ].join('\n');
  if (auth) {
    await writeFile(join(dir, 'htpasswd'), `${auth.user}:${auth.hash}\n`);
    yaml += `\nauth:\n  htpasswd:\n    realm: ufs-test\n    path: ${join(dir, 'htpasswd')}`;
  }
  await writeFile(join(dir, 'config.yml'), `${yaml}\n`);
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/v2/' }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', () => resolve(0));
    });
    if (status === 200 || status === 401) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: `127.0.0.1:${port}`, port, dir,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Builds an OCI layout with umoci: tag `v1` (one layer: files, a symlink, a 1.5 MB file) and tag
 * `v2` (a second layer that deletes a file and a directory, so it carries whiteouts, and adds one).
 */
export async function buildImage(root: string): Promise<{ layout: string; bundle: string }> {
  const layout = join(root, 'img');
  const bundle = join(root, 'bundle');
  await sh('umoci', ['init', '--layout', layout]);
  await sh('umoci', ['new', '--image', `${layout}:base`]);
  await sh('umoci', ['unpack', '--rootless', '--image', `${layout}:base`, bundle]);
  const rootfs = join(bundle, 'rootfs');
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await mkdir(join(rootfs, 'dir', 'sub'), { recursive: true });
  await mkdir(join(rootfs, 'gone-dir'), { recursive: true });
  await writeFile(join(rootfs, 'etc', 'hello'), 'hello from ufs\n');
  await writeFile(join(rootfs, 'dir', 'sub', 'gone'), 'deleted in v2\n');
  await writeFile(join(rootfs, 'gone-dir', 'x'), 'x\n');
  // Incompressible, so the layer is big enough for chunked uploads with a small chunk size.
  const parts: Buffer[] = [];
  for (let i = 0; i * 64 < 1_500_000; i++) parts.push(createHash('sha512').update(`ufs${i}`).digest());
  const big = Buffer.concat(parts);
  await writeFile(join(rootfs, 'big.bin'), big, { mode: 0o640 });
  await sh('ln', ['-s', 'hello', join(rootfs, 'etc', 'link')]);
  await sh('umoci', ['repack', '--image', `${layout}:v1`, bundle]);
  // repack diffs against the bundle's unpack-time state, so v2 starts from a fresh unpack of v1.
  const bundle2 = join(root, 'bundle2');
  await sh('umoci', ['unpack', '--rootless', '--image', `${layout}:v1`, bundle2]);
  const rootfs2 = join(bundle2, 'rootfs');
  await unlink(join(rootfs2, 'dir', 'sub', 'gone'));
  await rm(join(rootfs2, 'gone-dir'), { recursive: true });
  await writeFile(join(rootfs2, 'etc', 'new'), 'added in v2\n');
  await sh('umoci', ['repack', '--image', `${layout}:v2`, bundle2]);
  return { layout, bundle: bundle2 };
}

/** A comparable snapshot of a tree: path -> type, permissions, size, content hash or link target. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = join(dir, r);
      const st = await lstat(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[r] = `dir ${mode}`;
        await walk(r);
      } else if (st.isSymbolicLink()) {
        out[r] = `link -> ${await readlink(p)}`;
      } else if (st.isFile()) {
        out[r] = `file ${mode} ${st.size} ${createHash('sha256').update(await readFile(p)).digest('hex').slice(0, 16)}`;
      } else {
        out[r] = `other ${st.mode.toString(8)}`;
      }
    }
  };
  await walk('');
  return out;
}

/** Files under a directory (relative paths), for checking that nothing was left behind. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(join(dir, rel));
    } catch {
      return;
    }
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if ((await lstat(join(dir, r))).isDirectory()) await walk(r);
      else out.push(r);
    }
  };
  await walk('');
  return out.sort();
}

export interface TestServer {
  port: number;
  host: string;
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/** A node:http server on 127.0.0.1 that records every request. */
export async function serve(handler: http.RequestListener, address = '127.0.0.1'): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const srv = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((r) => srv.listen(0, address, r));
  const port = (srv.address() as AddressInfo).port;
  return {
    port, host: `${address}:${port}`, requests,
    close: () => new Promise<void>((r) => {
      srv.closeAllConnections();
      srv.close(() => r());
    }),
  };
}

/**
 * A forwarding proxy on 127.0.0.1 in front of a real registry that records each request's method,
 * URL and Content-Range, so tests can see how ufs talked to the registry.
 */
export async function recordingProxy(targetPort: number): Promise<TestServer> {
  return serve((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
}
