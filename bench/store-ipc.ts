/**
 * The store benchmarks run several processes (stores, a load generator, key makers), each
 * driven by the benchmark process over Node's IPC channel: `Child.spawn` on the parent
 * side, `serve` in the child. Calls are request/answer pairs with an id; Uint8Arrays cross
 * as they are (advanced serialization). A child can be pinned to cores with taskset(1),
 * and its CPU time and memory are read from /proc, so the parent measures it from outside.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const GC_FLAG = '--single-threaded-gc';

/**
 * `./x.ts` as this module runs: compiled (`npm run bench` runs dist/bench/*.js, the
 * stores as `npm start` runs them) or from source under tsx.
 */
export const sibling = (script: string): string => (import.meta.url.endsWith('.js') ? script.replace(/\.ts$/, '.js') : script);
let tasksetChecked: boolean | undefined;

/** Whether taskset(1) exists and may pin processes here. */
export function canPin(): boolean {
  tasksetChecked ??= spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  return tasksetChecked;
}

export interface SpawnOptions {
  /** Cores for taskset -c (e.g. '1'); the child runs unpinned when absent or taskset is missing. */
  cpus?: string;
  /** Keep V8's --single-threaded-gc (the bench process has it). Default false: a store runs as `npm start` runs it. */
  singleThreadedGc?: boolean;
  args?: string[];
  /** A store: give node the flags `npm start` gives it (package.json), so it runs as deployed. */
  asStart?: boolean;
}

/** The node flags of package.json's start script (`node <flags> dist/...`). */
export function startFlags(): string[] {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../'.repeat(import.meta.url.includes('/dist/') ? 2 : 1) + 'package.json', import.meta.url)), 'utf8')) as { scripts: { start: string } };
  const m = /^node((?:\s+--\S+)*)\s/.exec(pkg.scripts.start);
  return m ? m[1]!.trim().split(/\s+/).filter(Boolean) : [];
}

interface Waiting {
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
}

export class Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly name: string;
  readonly pinned: string | undefined;
  #next = 1;
  #waiting = new Map<number, Waiting>();
  #exited = false;

  private constructor(name: string, proc: ChildProcess, pinned: string | undefined) {
    this.name = name;
    this.proc = proc;
    this.pid = proc.pid!;
    this.pinned = pinned;
    proc.on('message', (m: { id: number; ok: boolean; value?: unknown; error?: string }) => {
      const w = this.#waiting.get(m.id);
      if (!w) return;
      this.#waiting.delete(m.id);
      if (m.ok) w.resolve(m.value);
      else w.reject(new Error(`${this.name}: ${m.error}`));
    });
    proc.on('exit', (code, signal) => {
      this.#exited = true;
      for (const w of this.#waiting.values()) w.reject(new Error(`${this.name} exited (${code ?? signal}) during a call`));
      this.#waiting.clear();
    });
  }

  /** Start `script` (a file in bench/) as a child with an IPC channel. */
  static spawn(name: string, script: string, o: SpawnOptions = {}): Child {
    const file = fileURLToPath(new URL(sibling(script), import.meta.url));
    const execArgv = o.singleThreadedGc ? process.execArgv : process.execArgv.filter((a) => a !== GC_FLAG);
    // KEYPOST_BENCH_PROFILE=DIR: a V8 CPU profile of every child, written to DIR at exit.
    const prof = process.env.KEYPOST_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.KEYPOST_BENCH_PROFILE}`] : [];
    const nodeArgs = [...prof, ...execArgv, ...(o.asStart ? startFlags() : []), file, ...(o.args ?? [])];
    const pin = o.cpus && canPin() ? o.cpus : undefined;
    // taskset execs node in place, so the pid stays the child's pid.
    const [cmd, args] = pin ? ['taskset', ['-c', pin, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
    const proc = spawn(cmd, args as string[], { stdio: ['ignore', 2, 2, 'ipc'], serialization: 'advanced' });
    return new Child(name, proc, pin);
  }

  call<T = unknown>(cmd: string, args?: unknown): Promise<T> {
    if (this.#exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.proc.send({ id, cmd, args });
    });
  }

  /** CPU seconds used so far by the process (all its threads), from /proc. */
  cpuSeconds(): number {
    return procCpuSeconds(this.pid);
  }

  /** Ask it to exit; kill it if it has not after `ms`. */
  async stop(ms = 10_000): Promise<void> {
    if (this.#exited) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    await this.call('exit').catch(() => {});
    const t = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    await gone;
    clearTimeout(t);
  }
}

/** The child side: answer calls with the handlers; `exit` is built in. */
export function serve(handlers: Record<string, (args: any) => unknown>): void {
  if (!process.send) throw new Error('this script runs as a child of the store benchmark (bench/store.ts)');
  process.on('message', async (m: { id: number; cmd: string; args?: unknown }) => {
    if (m.cmd === 'exit') {
      process.send!({ id: m.id, ok: true });
      setTimeout(() => process.exit(0), 10);
      return;
    }
    try {
      const h = handlers[m.cmd];
      if (!h) throw new Error(`unknown command ${m.cmd}`);
      const value = await h(m.args);
      process.send!({ id: m.id, ok: true, value });
    } catch (e) {
      process.send!({ id: m.id, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  });
  // The parent went away: do not linger.
  process.on('disconnect', () => process.exit(0));
}

const TICK = 100; // USER_HZ on Linux

/** utime + stime of a process (all threads), in seconds. */
export function procCpuSeconds(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}

/** cutime + cstime of this process: CPU of children it has waited for (e.g. smtp-source after it exited). */
export function reapedChildrenCpuSeconds(): number {
  const s = readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / TICK;
}

/** VmRSS and VmHWM (peak) of a process, in bytes; undefined once it is gone. */
export function procMemory(pid: number): { rss: number; hwm: number } | undefined {
  const p = `/proc/${pid}/status`;
  if (!existsSync(p)) return undefined;
  try {
    const s = readFileSync(p, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Samples VmRSS of some processes every `ms` until stopped: the peak and the samples. */
export class RssSampler {
  readonly peak = new Map<string, number>();
  readonly samples = new Map<string, number[]>();
  #timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly procs: { name: string; pid: number }[],
    ms = 100,
  ) {
    this.#timer = setInterval(() => this.sample(), ms);
    this.#timer.unref();
    this.sample();
  }
  sample() {
    for (const p of this.procs) {
      const m = procMemory(p.pid);
      if (!m || !Number.isFinite(m.rss)) continue;
      this.peak.set(p.name, Math.max(this.peak.get(p.name) ?? 0, m.rss));
      const s = this.samples.get(p.name) ?? [];
      s.push(m.rss);
      this.samples.set(p.name, s);
    }
  }
  stop() {
    clearInterval(this.#timer);
    this.sample();
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
