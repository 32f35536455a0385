/**
 * Load generators for the durability tests: many requests in flight at once, each one
 * recorded as acknowledged (a success reply was read), failed (an error reply, or the
 * connection died), or never sent; and a trigger that fires after N acknowledgements,
 * while the rest are still in flight.
 */
import { systemRandom } from '../../src/crypto/index.js';
import { toHex } from '../../src/bytes/index.js';
import { makeNotification, makeRequestAuth, sealEnvelope, type Signer } from '../../src/protocol/index.js';
import { encode } from '../../src/wire/index.js';
import { Upload } from '../../src/wire/schema.js';

export interface Op {
  /** Unique key: the message id in hex. */
  key: string;
  send(): Promise<boolean>;
}

export interface BurstReport {
  attempted: number;
  acked: Set<string>;
  failed: Map<string, string>;
  notSent: Set<string>;
  /** Requests sent and not yet answered when the trigger fired. */
  inFlightAtTrigger: number;
  /** Acknowledgements read after the trigger fired (replies already on the wire). */
  ackedAfterTrigger: number;
  ms: number;
}

/**
 * Run `ops` with `concurrency` requests in flight. After `triggerAfter` acknowledgements,
 * `trigger()` runs synchronously inside the reply handler and no new request is started.
 */
export async function burst(ops: Op[], o: { concurrency: number; triggerAfter?: number; trigger?: () => void }): Promise<BurstReport> {
  const t0 = Date.now();
  const r: BurstReport = { attempted: 0, acked: new Set(), failed: new Map(), notSent: new Set(), inFlightAtTrigger: -1, ackedAfterTrigger: 0, ms: 0 };
  let next = 0;
  let inFlight = 0;
  let fired = false;
  const worker = async () => {
    for (;;) {
      if (fired || next >= ops.length) return;
      const op = ops[next++]!;
      r.attempted++;
      inFlight++;
      try {
        if (await op.send()) {
          r.acked.add(op.key);
          if (fired) r.ackedAfterTrigger++;
        } else r.failed.set(op.key, 'refused');
      } catch (e) {
        const err = e as { code?: string; cause?: { code?: string }; message?: string };
        r.failed.set(op.key, err.cause?.code ?? err.code ?? err.message ?? 'error');
      } finally {
        inFlight--;
      }
      if (!fired && o.triggerAfter !== undefined && r.acked.size >= o.triggerAfter) {
        fired = true;
        r.inFlightAtTrigger = inFlight;
        o.trigger?.();
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  for (const op of ops.slice(next)) r.notSent.add(op.key);
  r.ms = Date.now() - t0;
  return r;
}

const now = () => Math.floor(Date.now() / 1000);

/** POST raw bytes; true on a 2xx reply whose JSON body was read completely. */
export async function postBytes(url: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/octet-stream', ...headers },
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json };
}

export interface Party {
  address: Uint8Array;
  encryptionKey: Uint8Array;
}

/** A notification for a message that exists nowhere: what a sender's store would post to the recipient's store. */
export function directNotification(sender: Signer, senderStore: string, to: Party, size = 1000): { id: string; bytes: Uint8Array } {
  const id = systemRandom(32);
  const t = now();
  const bytes = makeNotification({
    sender,
    recipient: { address: to.address, encryptionKey: to.encryptionKey },
    store: senderStore,
    id,
    size,
    time: t,
    expires: t + 3 * 86400,
    random: systemRandom,
  });
  return { id: toHex(id), bytes };
}

export interface SealedUpload {
  id: string;
  /** The request body (envelope and routes). */
  body: Uint8Array;
  /** Bytes of the envelope alone. */
  size: number;
  recipients: number;
}

/** What StoreClient.send uploads, built ahead so the burst itself is only HTTP. */
export function sealedUpload(o: {
  sender: Signer;
  senderStore: string;
  to: Party[];
  recipientStore: string;
  subject: string;
  text: string;
  attachment?: Uint8Array;
}): SealedUpload {
  const t = now();
  const { envelope, id } = sealEnvelope({
    author: o.sender,
    draft: {
      to: o.to.map((r) => r.address),
      cc: [],
      subject: o.subject,
      date: t,
      parents: [],
      body: o.text,
      attachments: o.attachment ? [{ name: 'big.bin', type: 'application/octet-stream', data: o.attachment }] : [],
    },
    recipients: o.to.map((r) => ({ address: r.address, encryptionKey: r.encryptionKey })),
    random: systemRandom,
  });
  const routes = o.to.map((r) => ({
    store: o.recipientStore,
    notification: makeNotification({
      sender: o.sender,
      recipient: { address: r.address, encryptionKey: r.encryptionKey },
      store: o.senderStore,
      id,
      size: envelope.length,
      time: t,
      expires: t + 3 * 86400,
      random: systemRandom,
    }),
  }));
  return { id: toHex(id), body: encode(Upload, { envelope, routes }), size: envelope.length, recipients: o.to.length };
}

/** The authorization header of a signed user request (docs/api.md), made at send time. */
export function authHeader(signer: Signer, store: string, method: string, path: string, body: Uint8Array): string {
  return makeRequestAuth(signer, { method, path, body, store }, now(), systemRandom);
}

/** Upload one sealed message as `sender`; true on 201/200 with the same id. */
export async function upload(store: string, sender: Signer, u: SealedUpload): Promise<boolean> {
  const r = await postBytes(`${store}/v1/messages`, u.body, { authorization: authHeader(sender, store, 'POST', '/v1/messages', u.body) });
  if (r.status !== 201 && r.status !== 200) throw new Error(`HTTP ${r.status} ${r.json?.error ?? ''}`);
  if (r.json?.id !== u.id) throw new Error(`store named id ${r.json?.id}`);
  return true;
}

/** Post one notification to a recipient store; true on 202 accepted / 200 duplicate. */
export async function notify(store: string, bytes: Uint8Array): Promise<boolean> {
  const r = await postBytes(`${store}/v1/notifications`, bytes);
  if (r.status !== 202 && r.status !== 200) throw new Error(`HTTP ${r.status} ${r.json?.error ?? ''}`);
  if (r.json?.status !== 'accepted' && r.json?.status !== 'duplicate') throw new Error(`status ${r.json?.status}`);
  return true;
}
