/**
 * A keypost store as a real child process (`node --import tsx src/server/main.ts start`),
 * for tests that kill it with SIGKILL or stop it with SIGTERM and start it again on the
 * same data folder and port. `node` is spawned directly (not the tsx wrapper), so the
 * signal reaches the process that holds the database.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'src/server/main.ts');
const NODE_ARGS = ['--import', 'tsx', MAIN];

/** A port nobody listens on right now (the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class StoreProcess {
  readonly url: string;
  child: ChildProcess | undefined;
  #exit: Promise<Exit> | undefined;
  /** The last lines the process wrote (stdout and stderr), for failure messages. */
  readonly output: string[] = [];
  starts = 0;

  constructor(
    readonly name: string,
    readonly dataDir: string,
    readonly port: number,
    settings: Record<string, unknown>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // Settings through <data>/config.json, as an operator would write them.
    writeFileSync(join(dataDir, 'config.json'), JSON.stringify(settings));
  }

  get dbPath(): string {
    return join(this.dataDir, 'keypost.db');
  }

  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  #keep(prefix: string, chunk: Buffer) {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      this.output.push(`${this.name}#${this.starts} ${prefix} ${line.slice(0, 300)}`);
      if (this.output.length > 60) this.output.shift();
    }
  }

  /** Start and wait until /v1/health answers (or fail with the process's last words). */
  async start(timeoutMs = 20_000): Promise<void> {
    if (this.alive) throw new Error(`${this.name} is already running`);
    this.starts++;
    const child = spawn(process.execPath, [...NODE_ARGS, 'start', '--data', this.dataDir, '--port', String(this.port)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    this.child = child;
    child.stdout!.on('data', (c: Buffer) => this.#keep('out', c));
    child.stderr!.on('data', (c: Buffer) => this.#keep('err', c));
    this.#exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (!this.alive) throw new Error(`${this.name} exited during start:\n${this.output.join('\n')}`);
      try {
        const r = await fetch(`${this.url}/v1/health`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > end) throw new Error(`${this.name} did not start in ${timeoutMs} ms:\n${this.output.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Wait until the process writes a line matching `re` (e.g. that it began shutting down). */
  async waitFor(re: RegExp, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!this.output.some((l) => re.test(l))) {
      if (Date.now() > end) throw new Error(`${this.name} never wrote ${re}:\n${this.output.join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** kill -9, right now (synchronously: no await between the decision and the signal). */
  kill9(): void {
    if (this.alive) this.child!.kill('SIGKILL');
  }

  /** Resolves when the current process has exited. */
  exited(): Promise<Exit> {
    return this.#exit ?? Promise.resolve({ code: null, signal: null });
  }

  /** Send a signal and return without waiting. */
  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.child!.kill(sig);
  }

  /** Stop whatever is running, for afterAll: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.alive) return;
    this.child!.kill('SIGTERM');
    const t = setTimeout(() => this.kill9(), graceMs);
    await this.exited();
    clearTimeout(t);
  }

  /** `main.ts invite`: a one-time invite token, printed by the real subcommand. */
  invite(): Promise<string> {
    return new Promise((resolve, reject) =>
      execFile(
        process.execPath,
        [...NODE_ARGS, 'invite', '--data', this.dataDir, '--port', String(this.port)],
        { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: '' }, timeout: 20_000 },
        (err, stdout, stderr) => {
          const token = stdout.trim().split('\n').pop() ?? '';
          if (err || !/^[A-Za-z0-9_-]{20,}$/.test(token)) reject(new Error(`invite failed: ${err?.message ?? ''} ${stderr}`));
          else resolve(token);
        },
      ),
    );
  }
}
