/** Start and stop a whole store: SQLite storage, the store, its workers and the HTTP app. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { fromHex } from '../bytes/index.js';
import { systemRandom, type RandomSource } from '../crypto/index.js';
import { Resolver } from '../discovery/index.js';
import { SqliteStorage } from '../storage/sqlite.js';
import { DEFAULT_CONFIG, type Clock, type Peers, type StoreConfig } from '../store/ports.js';
import { Store } from '../store/store.js';
import { buildApp } from './app.js';
import { resolverDirectory } from './directory.js';
import { httpPeers } from './peers.js';

export interface ServerOptions {
  /** Folder for the database; created if missing. */
  dataDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Public origin; by default http://host:port (plain HTTP is for loopback only). */
  origin?: string;
  config?: Partial<Omit<StoreConfig, 'origin'>>;
  dnsServers?: string[];
  /** Worker pass interval in ms. */
  workerIntervalMs?: number;
  logger?: boolean;
  clock?: Clock;
  random?: RandomSource;
  peers?: Peers;
}

export interface RunningStore {
  /** The public origin (what assertions name). */
  url: string;
  /** Where it listens, e.g. http://127.0.0.1:PORT (differs from `url` behind a proxy). */
  listening: string;
  store: Store;
  app: FastifyInstance;
  storage: SqliteStorage;
  resolver: Resolver;
  /** Graceful: stop taking requests, finish those in flight, stop workers, flush storage. */
  close(): Promise<void>;
}

export async function startStore(o: ServerOptions): Promise<RunningStore> {
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const clock = o.clock ?? { now: () => Math.floor(Date.now() / 1000) };
  const config: StoreConfig = { ...DEFAULT_CONFIG, ...o.config, origin: o.origin ?? '' };
  const storage = new SqliteStorage({ path: join(o.dataDir, 'keypost.db') });
  // Rollback marks in the database: a restart must not let an older assertion be taken again.
  const seqStore = {
    get: (addrHex: string, type: string) => storage.getSeenSeq(fromHex(addrHex), type),
    set: (addrHex: string, type: string, seq: number) => storage.setSeenSeq(fromHex(addrHex), type, seq),
  };
  const resolver = new Resolver({ now: clock.now, skew: config.skew, seqStore, ...(o.dnsServers ? { dnsServers: o.dnsServers } : {}) });
  const log = (msg: string, fields?: Record<string, unknown>) => console.error(`keypost: ${msg}`, fields ? JSON.stringify(fields) : '');
  const store = new Store(storage, {
    config,
    directory: resolverDirectory(resolver, () => config.origin.startsWith('http:')),
    peers: o.peers ?? httpPeers,
    clock,
    random: o.random ?? systemRandom,
    log,
  });
  const app = buildApp({ store, logger: o.logger ?? false });
  const host = o.host ?? '127.0.0.1';
  await app.listen({ host, port: o.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  // The origin is known only once listening; nothing is served before this line runs.
  config.origin ||= url;
  store.start(o.workerIntervalMs ?? 1000);
  let closing: Promise<void> | undefined;
  return {
    url: config.origin,
    listening: url,
    store,
    app,
    storage,
    resolver,
    close: () =>
      (closing ??= (async () => {
        await app.close();
        await store.stop();
        await storage.close();
      })()),
  };
}
