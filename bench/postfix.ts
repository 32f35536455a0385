/**
 * The SMTP yardstick of the store benchmark: Postfix's `smtp-source` sending to
 * `smtp-sink` on loopback, a new connection per message (DESIGN.md, "Performance").
 * smtp-sink accepts and discards: no parsing beyond SMTP, no crypto, no storage. It is
 * pinned to the store's core and smtp-source to the load generator's, as in benchmark 1.
 *
 * If the binaries are missing, Debian's postfix is installed with apt-get (it does not
 * start the daemon); if that is impossible the result says why, and nothing is guessed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import { canPin, procCpuSeconds, reapedChildrenCpuSeconds, sleep } from './store-ipc.js';

export const SMTP_SINK = '/usr/sbin/smtp-sink';
export const SMTP_SOURCE = '/usr/sbin/smtp-source';

export type PostfixAvailability = { ok: true; installedNow: boolean; version?: string } | { ok: false; reason: string };

let availability: PostfixAvailability | undefined;

function postfixVersion(): string | undefined {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'postfix'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Find smtp-sink and smtp-source, installing Debian's postfix if they are missing. */
export function ensurePostfix(log: (s: string) => void, install = true): PostfixAvailability {
  if (availability) return availability;
  if (existsSync(SMTP_SINK) && existsSync(SMTP_SOURCE)) return (availability = { ok: true, installedNow: false, ...optVersion() });
  if (!install) return (availability = { ok: false, reason: `${SMTP_SINK} not found and installing was turned off (--no-install)` });
  if (process.getuid?.() !== 0) return (availability = { ok: false, reason: `${SMTP_SINK} not found, and installing postfix needs root (run: sudo apt-get install -y postfix)` });
  if (spawnSync('apt-get', ['--version']).status !== 0) return (availability = { ok: false, reason: `${SMTP_SINK} not found and there is no apt-get to install postfix` });
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const tryInstall = () => spawnSync('apt-get', ['install', '-y', 'postfix'], { env, encoding: 'utf8', timeout: 600_000 });
  log('  smtp-sink missing: DEBIAN_FRONTEND=noninteractive apt-get install -y postfix …');
  let r = tryInstall();
  if (r.status !== 0) {
    log('  install failed; apt-get update, then once more …');
    spawnSync('apt-get', ['update'], { env, encoding: 'utf8', timeout: 600_000 });
    r = tryInstall();
  }
  if (r.status !== 0 || !existsSync(SMTP_SINK)) {
    const tail = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').slice(-2).join(' / ');
    return (availability = { ok: false, reason: `apt-get install -y postfix failed (exit ${r.status ?? r.signal}): ${tail}` });
  }
  return (availability = { ok: true, installedNow: true, ...optVersion() });
}

const optVersion = () => {
  const v = postfixVersion();
  return v ? { version: v } : {};
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), r(true)));
      c.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`smtp-sink did not listen on ${port}`);
    await sleep(20);
  }
}

export interface SmtpRun {
  messages: number;
  wallMs: number;
  /** Messages per wall-clock second: the figure DESIGN.md compares with. */
  rate: number;
  /** CPU seconds of smtp-sink and smtp-source during the run. */
  sinkCpu: number;
  sourceCpu: number;
  /** Messages smtp-sink counted (its -c counter), to check nothing was lost. */
  counted: number;
}

/**
 * `smtp-sink -c 127.0.0.1:PORT 1000` (pinned to `sinkCpus`) and
 * `smtp-source -s SESSIONS -l SIZE -m MESSAGES 127.0.0.1:PORT` (pinned to `sourceCpus`),
 * timed from the start of smtp-source to its exit.
 */
export async function smtpSinkRun(o: { messages: number; sessions?: number; size?: number; sinkCpus?: string; sourceCpus?: string }): Promise<SmtpRun> {
  const port = await freePort();
  const pin = (cpus: string | undefined, cmd: string, args: string[]): [string, string[]] => (cpus && canPin() ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args]);
  // As root smtp-sink insists on dropping privileges (-u).
  const asRoot = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const [sc, sa] = pin(o.sinkCpus, SMTP_SINK, [...asRoot, '-c', `127.0.0.1:${port}`, '1000']);
  const sink = spawn(sc, sa, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  sink.stdout.on('data', (c: Buffer) => (out = (out + c.toString('latin1')).slice(-400)));
  let errText = '';
  sink.stderr.on('data', (c: Buffer) => (errText += c.toString()));
  const sinkGone = new Promise<void>((r) => sink.once('exit', () => r()));
  try {
    await waitForPort(port, 5000).catch((e: Error) => {
      throw new Error(`${e.message}: ${errText.trim()}`);
    });
    const sink0 = procCpuSeconds(sink.pid!);
    const reaped0 = reapedChildrenCpuSeconds();
    const [cmd, args] = pin(o.sourceCpus, SMTP_SOURCE, ['-s', String(o.sessions ?? 20), '-l', String(o.size ?? 300), '-m', String(o.messages), `127.0.0.1:${port}`]);
    const t0 = performance.now();
    const src = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let srcErr = '';
    src.stderr.on('data', (c: Buffer) => (srcErr += c.toString()));
    const code = await new Promise<number | null>((r) => src.once('exit', (c) => r(c)));
    const wallMs = performance.now() - t0;
    const sourceCpu = reapedChildrenCpuSeconds() - reaped0;
    const sinkCpu = procCpuSeconds(sink.pid!) - sink0;
    if (code !== 0) throw new Error(`smtp-source exited ${code}: ${srcErr.trim().slice(0, 300)}`);
    await sleep(50);
    const counted = Number(/mesg=(\d+)\s*$/.exec(out.replace(/\r/g, '\n').trim())?.[1] ?? NaN);
    return { messages: o.messages, wallMs, rate: o.messages / (wallMs / 1000), sinkCpu, sourceCpu, counted };
  } finally {
    sink.kill('SIGTERM');
    await Promise.race([sinkGone, sleep(2000)]);
  }
}
