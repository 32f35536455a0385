/**
 * keypost benchmarks. `npm run bench [-- options]`
 *
 *   --quick          short smoke run (a few hundred ms per case)
 *   --json           write machine-readable results to stdout (tables go to stderr);
 *                    through npm use `npm run -s bench -- --json`, or npm's banner lands on stdout
 *   --json=FILE      write them to FILE (tables stay on stdout)
 *   --only=a,b       run only these groups: primitives, envelope, notification, pow, store
 *                    (also `--only a,b`); `--only=store` runs the store benchmarks alone
 *   --wall           rates per wall-clock second instead of per CPU-second
 *
 * The process re-runs itself under V8's --single-threaded-gc, so that all the work of a
 * case (garbage collection included) happens on one thread: the figures are then honest
 * one-core figures, and CPU time measures them even while other processes share the cores.
 *
 * Figures are operations per CPU-second of this process (by default), the median of
 * several interleaved rounds after a warm-up. On one otherwise idle core that is ops/s;
 * when other processes share the cores it stays close to it, where wall-clock rates
 * drop. The machine is noisy (±20 % between runs): compare the ratios, each taken within
 * one set of interleaved rounds, rather than absolute numbers across runs.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import { useBackend } from '../src/crypto/index.js';
import { envelopes } from './envelope.js';
import { FULL, median, QUICK, type BenchOptions, type GroupReport } from './harness.js';
import { notifications } from './notification.js';
import { pow } from './pow.js';
import { primitives } from './primitives.js';
import { store } from './store.js';

const GROUPS: Record<string, (o: BenchOptions, log: (s: string) => void) => GroupReport | Promise<GroupReport>> = {
  primitives,
  envelope: envelopes,
  notification: notifications,
  pow,
  // Real store processes over loopback HTTP (bench/store.ts); minutes, not seconds.
  store,
};

function parseArgs(argv: string[]) {
  let quick = false;
  let json: string | true | undefined;
  let only: string[] | undefined;
  let wall = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--wall') wall = true;
    else if (a === '--json') json = true;
    else if (a.startsWith('--json=')) json = a.slice(7);
    else if (a.startsWith('--only=')) only = a.slice(7).split(',').filter(Boolean);
    else if (a === '--only' && argv[i + 1]) only = argv[++i]!.split(',').filter(Boolean);
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run bench -- [--quick] [--wall] [--json[=FILE]] [--only=primitives,envelope,notification,pow,store]\n');
      process.exit(0);
    } else {
      process.stderr.write(`unknown option ${a}\n`);
      process.exit(2);
    }
  }
  for (const g of only ?? []) {
    if (!GROUPS[g]) {
      process.stderr.write(`unknown group ${g}; groups: ${Object.keys(GROUPS).join(', ')}\n`);
      process.exit(2);
    }
  }
  return { quick, json, only, wall };
}

/** Which code was measured: commit, and whether src/ differed from it (read-only git calls). */
function revision(): { commit: string; srcDirty: boolean } | undefined {
  // For an exported snapshot (git archive), which has no .git: say which commit it is.
  const given = process.env.KEYPOST_BENCH_REVISION;
  if (given) return { commit: given, srcDirty: false };
  const git = (...a: string[]) => spawnSync('git', a, { encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return undefined;
  const dirty = git('status', '--porcelain', '--', 'src');
  return { commit: head.stdout.trim(), srcDirty: dirty.stdout.trim().length > 0 };
}

function machine() {
  const cpus = os.cpus();
  return {
    revision: revision(),
    node: process.version,
    openssl: process.versions.openssl,
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    availableParallelism: os.availableParallelism(),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    totalMemMiB: Math.round(os.totalmem() / 2 ** 20),
    date: new Date().toISOString(),
  };
}

const GC_FLAG = '--single-threaded-gc';

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!process.execArgv.includes(GC_FLAG)) {
    // Same loader (tsx) and arguments, one GC thread.
    const r = spawnSync(process.execPath, [...process.execArgv, GC_FLAG, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  const o: BenchOptions = { ...(args.quick ? QUICK : FULL), clock: args.wall ? 'wall' : 'cpu' };
  const out = args.json === true ? process.stderr : process.stdout;
  const print = (s: string) => out.write(s + '\n');
  const log = (s: string) => process.stderr.write(s + '\n');

  const m = machine();
  const load0 = os.loadavg();
  print(`# keypost benchmarks${args.quick ? ' (--quick: smoke run, figures are rough)' : ''}`);
  print('');
  print(`node ${m.node} (${GC_FLAG}), OpenSSL ${m.openssl}, ${m.cpuModel}, ${m.availableParallelism} cores, ${m.platform}, ${m.date}`);
  if (m.revision) print(`code: commit ${m.revision.commit}${m.revision.srcDirty ? ' + uncommitted changes in src/' : ''}`);
  print(
    `mode: warm-up ${o.warmupMs} ms, ${o.rounds} rounds × ${o.roundMs} ms per case, median of rounds; rates per ${o.clock === 'cpu' ? 'CPU-second of this process' : 'wall-clock second'}; load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}`,
  );
  print('');

  const started = performance.now();
  const reports: GroupReport[] = [];
  for (const [name, run] of Object.entries(GROUPS)) {
    if (args.only && !args.only.includes(name)) continue;
    log(`[${name}]`);
    useBackend('node');
    const r = await run(o, log);
    useBackend('node');
    reports.push(r);
    print(`## ${r.title}`);
    print('');
    print(r.table);
    print('');
    for (const n of r.notes) print(`- ${n}`);
    // The store group measures other processes and prints their CPU share in its tables.
    const share = median(r.results.map((x) => x.cpuShare));
    if (r.id !== 'store') print(`- CPU share (median over cases of CPU time / wall time): ${share.toFixed(2)}${share < 0.9 ? ' — other processes took part of the cores during this group' : ''}.`);
    print('');
  }
  const load1 = os.loadavg();
  const secs = (performance.now() - started) / 1000;
  print(`done in ${secs.toFixed(0)} s; load average at end ${load1.map((x) => x.toFixed(2)).join(' ')} (above ~1 means other work shared the cores)`);

  if (args.json !== undefined) {
    const doc = {
      version: 1,
      machine: m,
      options: o,
      loadavg: { start: load0, end: load1 },
      seconds: secs,
      groups: Object.fromEntries(reports.map((r) => [r.id, { title: r.title, notes: r.notes, ratios: r.ratios, derived: r.derived ?? {}, results: r.results }])),
    };
    const text = JSON.stringify(doc, null, 2) + '\n';
    if (args.json === true) process.stdout.write(text);
    else fs.writeFileSync(args.json, text);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
