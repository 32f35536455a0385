/**
 * Test helper: a real authoritative DNS server (Debian's Knot DNS, `knotd`) on a free
 * loopback port, serving zones built from the records keypost prints. Everything it
 * writes (config, zone files, journal, pid file, control socket) lives in one temporary
 * directory, removed by stop(). CI installs knot with .ci/setup-dns.sh; when knotd is
 * absent, startKnot() throws (the test fails, it does not skip).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface Zone {
  /** The zone apex, e.g. `example.test` (no trailing dot). */
  origin: string;
  /** Master-file lines with absolute owner names (as zoneRecords prints them). */
  records: string[];
}

export interface Knot {
  port: number;
  /** `127.0.0.1:<port>`, for Resolver({ dnsServers }). */
  server: string;
  version: string;
  dir: string;
  /** What knotd logged so far (stderr), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

const CANDIDATES = ['/usr/sbin/knotd', '/usr/local/sbin/knotd'];

export function findKnotd(): string {
  for (const p of CANDIDATES) if (existsSync(p)) return p;
  const w = spawnSync('sh', ['-c', 'command -v knotd'], { encoding: 'utf8' });
  const p = w.stdout.trim();
  if (w.status === 0 && p) return p;
  throw new Error(
    'knotd (Knot DNS) is not installed, and test/discovery.dns.test.ts needs a real authoritative DNS server. ' +
      'Install it with .ci/setup-dns.sh (Debian package "knot").',
  );
}

/** A port free for both UDP and TCP on 127.0.0.1 (a DNS server listens on both). */
async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const a = s.address();
        s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (port && udpFree) return port;
  }
  throw new Error('no free loopback port for knotd');
}

export function zoneFile(z: Zone, serial = 1): string {
  const o = z.origin.replace(/\.$/, '');
  return [
    `$ORIGIN ${o}.`,
    '$TTL 300',
    `@ IN SOA ns.${o}. hostmaster.${o}. ${serial} 3600 600 86400 300`,
    `@ IN NS ns.${o}.`,
    'ns IN A 127.0.0.1',
    ...z.records,
    '',
  ].join('\n');
}

function config(dir: string, port: number, zones: Zone[]): string {
  const root = process.getuid?.() === 0;
  return [
    'server:',
    `    rundir: "${dir}"`,
    `    pidfile: "${join(dir, 'knot.pid')}"`,
    `    listen: 127.0.0.1@${port}`,
    ...(root ? [] : [`    user: ${userInfo().username}`]),
    'log:',
    '  - target: stderr',
    '    any: info',
    'database:',
    `    storage: "${join(dir, 'db')}"`,
    'control:',
    `    listen: "${join(dir, 'knot.sock')}"`,
    'template:',
    '  - id: default',
    `    storage: "${dir}"`,
    '    file: "%s.zone"',
    '    zonefile-sync: -1', // never write the zone back
    '    journal-content: none',
    'zone:',
    ...zones.map((z) => `  - domain: ${z.origin.replace(/\.$/, '')}`),
    '',
  ].join('\n');
}

async function waitReady(server: string, zone: string, child: ChildProcess, log: () => string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`knotd exited (${child.exitCode ?? child.signalCode}) before serving:\n${log()}`);
    }
    const r = new Resolver({ timeout: 300, tries: 1 });
    r.setServers([server]);
    try {
      const soa = await r.resolveSoa(zone);
      if (soa.serial >= 1) return;
    } catch (e) {
      last = String((e as Error).message ?? e);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`knotd did not serve ${zone} within ${ms} ms (last: ${last}):\n${log()}`);
}

export async function startKnot(zones: Zone[]): Promise<Knot> {
  const knotd = findKnotd();
  const version = spawnSync(knotd, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const dir = await mkdtemp(join(tmpdir(), 'keypost-knot-'));
  await mkdir(join(dir, 'db'));
  for (const z of zones) await writeFile(join(dir, `${z.origin.replace(/\.$/, '')}.zone`), zoneFile(z));
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const conf = join(dir, 'knot.conf');
    await writeFile(conf, config(dir, port, zones));
    const child = spawn(knotd, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const log = () => out;
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    const server = `127.0.0.1:${port}`;
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    };
    try {
      await waitReady(server, zones[0]!.origin, child, log);
      return {
        port,
        server,
        version,
        dir,
        log,
        stop: async () => {
          await stop();
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (e) {
      lastError = e;
      await stop();
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}
