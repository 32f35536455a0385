/** Talking to other stores over HTTP(S): the store layer's Peers port. */
import type { PeerReply, Peers } from '../store/ports.js';
import { encode } from '../wire/index.js';
import { Envelope, NotificationBatch, SpamReport } from '../wire/schema.js';
import type { BatchItemReply } from '../store/ports.js';

const TIMEOUT_MS = 15_000;

async function readCapped(res: Response, max: number): Promise<Uint8Array | undefined> {
  const len = Number(res.headers.get('content-length') ?? '0');
  if (len > max) return undefined;
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of res.body ?? []) {
    n += (c as Uint8Array).length;
    if (n > max) return undefined;
    chunks.push(c as Uint8Array);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

async function post(url: string, body: Uint8Array, maxReply: number): Promise<PeerReply> {
  const res = await fetch(url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/octet-stream' },
    redirect: 'error',
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const retry = Number(res.headers.get('retry-after'));
  const bytes = await readCapped(res, maxReply);
  const reply: PeerReply = { status: res.status };
  if (Number.isFinite(retry) && retry > 0) reply.retryAfter = retry;
  if (res.ok) {
    if (bytes) reply.body = bytes;
    return reply;
  }
  try {
    reply.error = String(JSON.parse(Buffer.from(bytes ?? []).toString('utf8')).error ?? `HTTP ${res.status}`);
  } catch {
    reply.error = `HTTP ${res.status}`;
  }
  return reply;
}

export const httpPeers: Peers = {
  notify: (store, n) => post(`${store}/v1/notifications`, n, 4096),
  async notifyBatch(store, notifications) {
    const reply = await post(`${store}/v1/notifications/batch`, encode(NotificationBatch, { notifications }), 512 * notifications.length + 4096);
    if (reply.status !== 200 || !reply.body) return reply;
    try {
      const { results } = JSON.parse(Buffer.from(reply.body).toString('utf8')) as { results?: BatchItemReply[] };
      return Array.isArray(results) ? { ...reply, results } : reply;
    } catch {
      return { status: 502, error: 'malformed batch reply' };
    }
  },
  fetch: (store, req, maxBytes) => post(`${store}/v1/fetch`, req, maxBytes ?? Envelope.maxSize),
  receipt: (store, r) => post(`${store}/v1/receipts`, r, 4096),
  retraction: (store, r) => post(`${store}/v1/retractions`, r, 4096),
  report: (url, notification, envelope) => post(url, encode(SpamReport, envelope ? { notification, envelope } : { notification }), 4096),
};
