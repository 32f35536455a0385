/**
 * `npm start`: run a store on 127.0.0.1 with its SQLite database in ./data.
 * `npm run invite`: print a one-time invite token for a new user.
 * Settings: flags, then KEYPOST_* environment variables, then <data>/config.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KeypostError } from '../errors.js';
import { SqliteStorage } from '../storage/sqlite.js';
import { DEFAULT_CONFIG } from '../store/ports.js';
import { Store } from '../store/store.js';
import { startStore } from './server.js';
import { systemRandom } from '../crypto/index.js';

const HELP = `usage: keypost-store [start|invite] [options]
  --data DIR        database folder (default ./data; env KEYPOST_DATA)
  --host HOST       listen address (default 127.0.0.1; env KEYPOST_HOST)
  --port PORT       listen port (default 7787; env KEYPOST_PORT)
  --origin URL      public origin, e.g. https://mail.example.org (env KEYPOST_ORIGIN)
  --dns LIST        DNS servers for discovery, ip[:port],... (env KEYPOST_DNS)
  --greylist SECS   defer first contact from strangers (default ${DEFAULT_CONFIG.greylistSeconds})
  --quota BYTES     storage quota per user (default ${DEFAULT_CONFIG.quotaBytes})
  --report URL      where "report spam" forwards notifications
  --retry-base SECS first retransmission after SECS, doubling (default ${DEFAULT_CONFIG.retryBase})
  --retry-max SECS  longest wait between retransmissions (default ${DEFAULT_CONFIG.retryMax})
Settings in <data>/config.json use the same names: {"port": 7787, "greylist": 60, ...}.`;

function settings() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      data: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      origin: { type: 'string' },
      dns: { type: 'string' },
      greylist: { type: 'string' },
      quota: { type: 'string' },
      report: { type: 'string' },
      'retry-base': { type: 'string' },
      'retry-max': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const env = process.env;
  const data = resolve(values.data ?? env.KEYPOST_DATA ?? 'data');
  const file = join(data, 'config.json');
  const fromFile: Record<string, unknown> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const pick = (k: string, e?: string) => values[k as keyof typeof values] ?? (e ? env[e] : undefined) ?? fromFile[k];
  const num = (k: string, e?: string): number | undefined => {
    const v = pick(k, e);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new KeypostError('INVALID_ARGUMENT', `--${k} must be a non-negative integer`);
    return n;
  };
  const dns = pick('dns', 'KEYPOST_DNS');
  return {
    command: positionals[0] ?? 'start',
    help: values.help === true,
    data,
    host: String(pick('host', 'KEYPOST_HOST') ?? '127.0.0.1'),
    port: num('port', 'KEYPOST_PORT') ?? 7787,
    origin: pick('origin', 'KEYPOST_ORIGIN') as string | undefined,
    dns: dns === undefined ? undefined : String(dns).split(',').filter(Boolean),
    greylist: num('greylist'),
    quota: num('quota'),
    report: pick('report') as string | undefined,
    retryBase: num('retry-base'),
    retryMax: num('retry-max'),
  };
}

async function main() {
  const s = settings();
  if (s.help) return console.log(HELP);
  const config = {
    ...(s.greylist !== undefined ? { greylistSeconds: s.greylist } : {}),
    ...(s.quota !== undefined ? { quotaBytes: s.quota } : {}),
    ...(s.report ? { reportUrl: s.report } : {}),
    ...(s.retryBase !== undefined ? { retryBase: s.retryBase } : {}),
    ...(s.retryMax !== undefined ? { retryMax: s.retryMax } : {}),
  };
  if (s.command === 'invite') {
    // The database is shared with a running store (WAL allows it).
    const storage = new SqliteStorage({ path: join(s.data, 'keypost.db') });
    const store = new Store(storage, {
      config: { ...DEFAULT_CONFIG, ...config, origin: s.origin ?? `http://${s.host}:${s.port}` },
      directory: { storesOf: async () => [] },
      peers: { notify: async () => ({ status: 503 }), fetch: async () => ({ status: 503 }), receipt: async () => ({ status: 503 }), retraction: async () => ({ status: 503 }) },
      clock: { now: () => Math.floor(Date.now() / 1000) },
      random: systemRandom,
    });
    const token = await store.users.createInvite();
    await storage.close();
    return console.log(token);
  }
  if (s.command !== 'start') throw new KeypostError('INVALID_ARGUMENT', `unknown command ${s.command}\n${HELP}`);
  const running = await startStore({
    dataDir: s.data,
    host: s.host,
    port: s.port,
    ...(s.origin ? { origin: s.origin } : {}),
    ...(s.dns ? { dnsServers: s.dns } : {}),
    config,
    logger: true,
  });
  console.log(`keypost store listening on ${running.url}
  database: ${join(s.data, 'keypost.db')} (SQLite, WAL, synchronous=FULL)
next:
  invite a user:  npm run invite            (prints a one-time token)
  check it:       curl ${running.url}/v1/health
  stop:           Ctrl-C (finishes the requests in flight first)`);
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) process.exit(1); // a second signal: stop now
    stopping = true;
    console.log(`${sig}: finishing in-flight work…`);
    running.close().then(
      () => process.exit(0),
      (e) => {
        console.error(`keypost: shutdown failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e: unknown) => {
  console.error(e instanceof KeypostError ? e.message : `keypost: ${(e as Error).message}`);
  process.exit(1);
});
