/**
 * Child process of the store benchmarks: one real keypost store (src/server/server.ts:
 * SQLite with WAL and synchronous=FULL, group commit, its workers, the fastify app),
 * driven over IPC by bench/store.ts. Besides starting the store it registers users
 * directly through the Storage, answers counts from its database, runs the raw
 * node:crypto verify loop (on the same core as the store, for the baseline), and reports
 * database sizes and bytes written.
 */
import * as nc from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { crypto } from '../src/crypto/index.js';
import { startStore, type RunningStore } from '../src/server/server.js';
import type { StoreConfig } from '../src/store/ports.js';
import { serve } from './store-ipc.js';
import type { UserSetup } from './store-users.js';

let running: RunningStore | undefined;
let dir = '';
const store = () => {
  if (!running) throw new Error('store not started');
  return running;
};

function ioWriteBytes(): number | undefined {
  try {
    const m = /^write_bytes:\s+(\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const size = (p: string) => (existsSync(p) ? statSync(p).size : 0);

// The DESIGN.md baseline: one Ed25519 signature, prebuilt KeyObject, message the size of
// a notification's signed body.
function rawVerifyCase() {
  const { publicKey, privateKey } = nc.generateKeyPairSync('ed25519');
  const msg = nc.randomBytes(340);
  const sig = nc.sign(null, msg, privateKey);
  if (!nc.verify(null, msg, publicKey, sig)) throw new Error('raw verify setup failed');
  return () => nc.verify(null, msg, publicKey, sig);
}

serve({
  async start(a: { dir: string; config: Partial<StoreConfig>; workerIntervalMs?: number }) {
    dir = a.dir;
    running = await startStore({ dataDir: dir, config: a.config, workerIntervalMs: a.workerIntervalMs ?? 1000 });
    return { url: running.url, pid: process.pid };
  },

  /** Register users through the Storage: invite, user and device, delegate cert, assertions. */
  async addUsers(a: { users: UserSetup[] }) {
    const s = store().storage;
    const t = Math.floor(Date.now() / 1000);
    const work: Promise<unknown>[] = [];
    for (const u of a.users) {
      const token = crypto().sha256(u.address);
      work.push(
        s.createInvite(token, t + 86400).then(() =>
          s.redeemInvite(
            token,
            t,
            { address: u.address, identity: u.identity, created: t, quotaBytes: 1 << 30, usedBytes: 0, delegateSeed: u.delegateSeed, prefetch: u.prefetch },
            { key: u.deviceKey, user: u.address, added: t },
          ),
        ),
      );
    }
    await Promise.all(work);
    const more: Promise<unknown>[] = [];
    for (const u of a.users) {
      if (u.delegateCert) more.push(s.setDelegateCert(u.address, u.delegateCert));
      for (const x of u.assertions) more.push(s.putAssertion(u.address, x.type, x.seq, x.bytes, x.notAfter));
    }
    await Promise.all(more);
    return a.users.length;
  },

  /** Raw node:crypto Ed25519 verify with a prebuilt KeyObject, for about `ms`. */
  verifyRaw(a: { ms: number }) {
    const f = rawVerifyCase();
    for (let i = 0; i < 2000; i++) f(); // warm
    let n = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let t = t0;
    do {
      for (let i = 0; i < 500; i++) if (!f()) throw new Error('verify failed');
      n += 500;
      t = performance.now();
    } while (t - t0 < a.ms);
    const cu = process.cpuUsage(c0);
    return { ops: n, wallMs: t - t0, cpuMs: (cu.user + cu.system) / 1000 };
  },

  /** Committed rows: inbox rows (by the autoincrement counter: O(1)), outbox rows by status. */
  count(a: { outbox?: boolean } = {}) {
    const db = store().storage.db;
    const seq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'inbox'").get() as { seq: number } | undefined;
    const out: { inbox: number; commits: number; outbox?: Record<string, number> } = { inbox: seq?.seq ?? 0, commits: store().storage.commits };
    if (a.outbox) {
      out.outbox = {};
      for (const r of db.prepare('SELECT status, COUNT(*) AS n FROM outbox GROUP BY status').all() as { status: string; n: number }[]) out.outbox[r.status] = r.n;
    }
    return out;
  },

  /** Inbox rows in a state (e.g. fetched with receipt sent). */
  inboxStates() {
    const rows = store().storage.db.prepare('SELECT state, receipt_sent AS r, COUNT(*) AS n FROM inbox GROUP BY state, receipt_sent').all() as { state: string; r: number; n: number }[];
    return Object.fromEntries(rows.map((x) => [`${x.state}${x.r ? '+receipt' : ''}`, x.n]));
  },

  /** Database file, WAL, page counts and bytes this process has written to storage so far. */
  dbStats() {
    const db = store().storage.db;
    const file = join(dir, 'keypost.db');
    return {
      pageSize: db.pragma('page_size', { simple: true }) as number,
      pageCount: db.pragma('page_count', { simple: true }) as number,
      freelist: db.pragma('freelist_count', { simple: true }) as number,
      dbBytes: size(file),
      walBytes: size(file + '-wal'),
      writeBytes: ioWriteBytes(),
    };
  },

  /** process.memoryUsage() (RSS, V8 heap, external and ArrayBuffer memory), in bytes. */
  mem(a: { gc?: boolean } = {}) {
    // (With node --expose-gc, a full collection first: live memory rather than garbage.)
    const g = (globalThis as { gc?: () => void }).gc;
    if (a.gc && g) g();
    return process.memoryUsage();
  },

  /** Copy the WAL into the database and empty it (outside any timed window). */
  checkpoint() {
    return store().storage.db.pragma('wal_checkpoint(TRUNCATE)');
  },

  async close() {
    await running?.close();
    running = undefined;
    return true;
  },
});
