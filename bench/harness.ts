/**
 * A small benchmark harness built for noisy machines.
 *
 * - Every case is warmed up (JIT, caches), then measured in several rounds; the figure
 *   reported is the median of the per-round rates, with the spread (max - min) / median.
 * - Cases that are compared with each other run as one *set*: their rounds are
 *   interleaved (A B C, B C A, C A B, ...), so slow drifts of the machine (other
 *   processes, CPU frequency) hit all of them alike. A ratio between two cases is the
 *   median of the per-round ratios, which is much steadier than the absolute numbers.
 * - Absolute numbers move ±20 % between runs on this machine; compare ratios.
 */
import { performance } from 'node:perf_hooks';

export interface BenchOptions {
  /** Warm-up time per case before any measuring. */
  warmupMs: number;
  /** Length of one measuring round. */
  roundMs: number;
  /** Number of rounds; the median is reported. */
  rounds: number;
  quick: boolean;
  /**
   * What a round's rate is divided by: 'cpu' = CPU time of this process (user + system),
   * i.e. operations per CPU-second, which stays meaningful when other processes share the
   * cores; 'wall' = elapsed time. Both are recorded either way.
   */
  clock: 'cpu' | 'wall';
}

export const FULL: BenchOptions = { warmupMs: 400, roundMs: 300, rounds: 9, quick: false, clock: 'cpu' };
export const QUICK: BenchOptions = { warmupMs: 50, roundMs: 60, rounds: 3, quick: true, clock: 'cpu' };

export interface Case {
  /** Stable machine-readable id, e.g. "ed25519.verify.cached". */
  id: string;
  /** Human label for the table. */
  label: string;
  backend?: 'node' | 'noble';
  /** One operation. The result is kept so the work cannot be optimised away. */
  fn: () => unknown;
  /** Bytes processed per operation: the table then shows MB/s (10^6 bytes/s). */
  bytes?: number;
  /** Work units per operation when "one op" is not what is counted (e.g. hashes per mint). */
  unitsPerOp?: number;
  unitName?: string;
  /** Run before warm-up and before every round of this case (e.g. select the backend). */
  before?: () => void;
  /** Minimum operations per round (for very slow operations such as scrypt). */
  minOps?: number;
  /** Fixed operation counts instead of fixed time (for cases that consume a finite pool). */
  fixed?: { warmupOps: number; opsPerRound: number };
}

export interface Measured {
  id: string;
  label: string;
  backend?: string;
  /** ops/s of every round, in round order, by the chosen clock. */
  samples: number[];
  /** The same rounds by the other measure: ops per wall-clock second and per CPU-second. */
  samplesWall: number[];
  samplesCpu: number[];
  /** Median of the per-round CPU time / wall time (≈ 1 on an idle core; < 1 when descheduled). */
  cpuShare: number;
  /** Median ops/s. */
  opsPerSec: number;
  /** Microseconds per operation at the median rate. */
  usPerOp: number;
  /** (max - min) / median over the rounds. */
  spread: number;
  mbPerSec?: number;
  unitsPerSec?: number;
  unitName?: string;
  totalOps: number;
}

// The results of measured calls land here, so no call can be proven dead.
let blackhole: unknown;
export const sink = (): unknown => blackhole;

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Run for about `ms`, doubling the batch until one batch takes ≥ ms/10; returns the batch size. */
function warmup(c: Case, ms: number): number {
  const fn = c.fn;
  if (c.fixed) {
    for (let i = 0; i < c.fixed.warmupOps; i++) blackhole = fn();
    return 1;
  }
  let batch = 1;
  const t0 = performance.now();
  for (;;) {
    const b0 = performance.now();
    for (let i = 0; i < batch; i++) blackhole = fn();
    const now = performance.now();
    if (now - b0 < ms / 10 && batch < 1 << 20) batch *= 2;
    if (now - t0 >= ms) return batch;
  }
}

function round(c: Case, batch: number, ms: number): { wall: number; cpu: number; ops: number } {
  const fn = c.fn;
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let t = t0;
  if (c.fixed) {
    for (let i = 0; i < c.fixed.opsPerRound; i++) blackhole = fn();
    n = c.fixed.opsPerRound;
    t = performance.now();
  } else {
    const minOps = c.minOps ?? 1;
    do {
      for (let i = 0; i < batch; i++) blackhole = fn();
      n += batch;
      t = performance.now();
    } while (t - t0 < ms || n < minOps);
  }
  const cu = process.cpuUsage(c0);
  const cpuMs = (cu.user + cu.system) / 1000;
  return { wall: n / ((t - t0) / 1000), cpu: n / (Math.max(cpuMs, 0.001) / 1000), ops: n };
}

/** Measure a set of cases with interleaved rounds. */
export function runSet(cases: readonly Case[], o: BenchOptions): Measured[] {
  const batches = cases.map((c) => {
    c.before?.();
    return warmup(c, o.warmupMs);
  });
  const wall = cases.map(() => [] as number[]);
  const cpu = cases.map(() => [] as number[]);
  const ops = cases.map(() => 0);
  for (let r = 0; r < o.rounds; r++) {
    for (let k = 0; k < cases.length; k++) {
      const i = (k + r) % cases.length; // rotate the order so no case always runs first
      const c = cases[i]!;
      c.before?.();
      const { wall: w, cpu: u, ops: n } = round(c, batches[i]!, o.roundMs);
      wall[i]!.push(w);
      cpu[i]!.push(u);
      ops[i]! += n;
    }
  }
  return cases.map((c, i) => {
    const s = o.clock === 'cpu' ? cpu[i]! : wall[i]!;
    const med = median(s);
    const m: Measured = {
      id: c.id,
      label: c.label,
      samples: s,
      samplesWall: wall[i]!,
      samplesCpu: cpu[i]!,
      cpuShare: median(wall[i]!.map((w, k) => w / cpu[i]![k]!)),
      opsPerSec: med,
      usPerOp: 1e6 / med,
      spread: (Math.max(...s) - Math.min(...s)) / med,
      totalOps: ops[i]!,
    };
    if (c.backend) m.backend = c.backend;
    if (c.bytes) m.mbPerSec = (med * c.bytes) / 1e6;
    if (c.unitsPerOp) {
      m.unitsPerSec = med * c.unitsPerOp;
      m.unitName = c.unitName ?? 'units';
    }
    return m;
  });
}

/** Median of the per-round ratios a/b (both measured in the same set). */
export function ratio(a: Measured, b: Measured): number {
  const n = Math.min(a.samples.length, b.samples.length);
  const rs: number[] = [];
  for (let i = 0; i < n; i++) rs.push(a.samples[i]! / b.samples[i]!);
  return median(rs);
}

// ---- formatting --------------------------------------------------------------------------

/** 3 significant digits, thousands separated: 7,999 / 563 / 12.3 / 0.0421. */
export function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  if (x >= 1000) return Math.round(x).toLocaleString('en-US');
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  if (x >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}
export const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(0)} %` : '–');
export const times = (x: number): string => (Number.isFinite(x) ? `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×` : '–');

export function table(headers: string[], rows: string[][], leftCols = 1): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    '| ' + cells.map((c, i) => (i < leftCols ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ') + ' |';
  const sep = '|' + w.map((n, i) => (i < leftCols ? ':' + '-'.repeat(n + 1) : '-'.repeat(n + 1) + ':')).join('|') + '|';
  return [line(headers), sep, ...rows.map((r) => line(headers.map((_, i) => r[i] ?? '')))].join('\n');
}

// ---- reporting ---------------------------------------------------------------------------

export interface GroupReport {
  id: string;
  title: string;
  /** Markdown table, as printed. */
  table: string;
  notes: string[];
  results: Measured[];
  ratios: Record<string, number>;
  /** Free-form derived figures (e.g. microseconds of protocol overhead). */
  derived?: Record<string, number>;
}
