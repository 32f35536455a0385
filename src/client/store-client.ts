/**
 * A user's side of the store API (docs/api.md): every request signed by the device key,
 * messages sealed and notifications signed on the device, never on the store.
 */
import { KeypostError, isErrorCode } from '../errors.js';
import { fromHex, toHex } from '../bytes/index.js';
import { systemRandom, type RandomSource } from '../crypto/index.js';
import { addressFromText, addressToText, type SigningKey } from '../identity/index.js';
import {
  certifySubkey,
  makeNotification,
  makeRequestAuth,
  makeRetraction,
  PURPOSE,
  sealEnvelope,
  type Draft,
  type Signer,
} from '../protocol/index.js';
import { encode } from '../wire/index.js';
import { AssertionBundle, RetractionList, Upload } from '../wire/schema.js';

export interface RecipientInfo {
  address: Uint8Array;
  encryptionKey: Uint8Array;
  /** The recipient's store, as discovered. */
  store: string;
}

export interface ClientOptions {
  url: string;
  signer: Signer;
  random?: RandomSource;
  now?: () => number;
}

export interface InboxItem {
  seq: number;
  id: string;
  sender: string;
  senderStore: string;
  size: number;
  received: number;
  state: string;
  notification: string;
}

export class StoreClient {
  readonly url: string;
  readonly #signer: Signer;
  readonly #random: RandomSource;
  readonly #now: () => number;

  constructor(o: ClientOptions) {
    this.url = o.url;
    this.#signer = o.signer;
    this.#random = o.random ?? systemRandom;
    this.#now = o.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** A signed request; a non-2xx answer becomes a KeypostError with the store's code. */
  async request(method: string, path: string, body?: Uint8Array, type = 'application/octet-stream'): Promise<Response> {
    const payload = body ?? new Uint8Array(0);
    const send = () =>
      fetch(this.url + path, {
        method,
        // Signed afresh for every attempt: a new nonce, so a retry is never a replay.
        headers: { authorization: makeRequestAuth(this.#signer, { method, path, body: payload, store: this.url }, this.#now(), this.#random), ...(body ? { 'content-type': type } : {}) },
        ...(body ? { body: payload } : {}),
      });
    let res: Response;
    try {
      res = await send();
    } catch (e) {
      // A kept-alive connection the store closed (it restarted) fails the next request before
      // the store sees it; a read is safe to send once more, on a new connection.
      if (method !== 'GET' || (e as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw e;
      res = await send();
    }
    if (!res.ok) {
      const e = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
      const code = e.error && isErrorCode(e.error) ? e.error : 'INTERNAL';
      throw new KeypostError(code, e.message ?? `HTTP ${res.status}`);
    }
    return res;
  }

  #json = (method: string, path: string, value?: unknown) =>
    this.request(method, path, value === undefined ? undefined : new TextEncoder().encode(JSON.stringify(value)), 'application/json').then((r) => r.json() as Promise<any>);

  /** Register this device with an invite, then certify the store-delegate key the store made. */
  async register(invite: string, identity: SigningKey, delegateLifetime = 365 * 86400): Promise<{ address: string; delegateKey: string }> {
    const r = (await this.#json('POST', '/v1/register', { invite })) as { address: string; delegateKey: string };
    const now = this.#now();
    const cert = certifySubkey({ identity, purpose: PURPOSE.storeDelegate, subkey: fromHex(r.delegateKey), notBefore: now - 60, notAfter: now + delegateLifetime });
    await this.request('PUT', '/v1/me/delegate', cert);
    return r;
  }

  /** Register another device: `cert` is its device certificate, signed by the identity key. */
  /** Remove a device for good with a Revocation signed by the identity key (revokeKey). */
  revokeDevice(revocation: Uint8Array): Promise<{ revoked: string }> {
    return this.request('POST', '/v1/me/revocations', revocation).then((r) => r.json() as Promise<{ revoked: string }>);
  }

  addDevice(cert: Uint8Array): Promise<{ device: string }> {
    return this.request('POST', '/v1/me/devices', cert).then((r) => r.json() as Promise<{ device: string }>);
  }

  publish(assertions: Uint8Array[]): Promise<{ stored: number }> {
    return this.request('PUT', '/v1/me/assertions', encode(AssertionBundle, { assertions })).then((r) => r.json() as Promise<{ stored: number }>);
  }

  /** Seal once, sign one notification per recipient, upload. Returns the message id (hex). */
  async send(draft: Draft, recipients: RecipientInfo[], o: { lifetime?: number; subjectHint?: boolean } = {}): Promise<string> {
    const { envelope, id } = sealEnvelope({ author: this.#signer, draft, recipients, random: this.#random });
    const now = this.#now();
    const routes = recipients.map((r) => ({
      store: r.store,
      notification: makeNotification({
        sender: this.#signer,
        recipient: { address: r.address, encryptionKey: r.encryptionKey },
        store: this.url,
        id,
        size: envelope.length,
        time: now,
        expires: now + (o.lifetime ?? 7 * 86400),
        ...(o.subjectHint ? { subjectHint: draft.subject.slice(0, 40) } : {}),
        random: this.#random,
      }),
    }));
    const res = await this.request('POST', '/v1/messages', encode(Upload, { envelope, routes }));
    const { id: got } = (await res.json()) as { id: string };
    if (got !== toHex(id)) throw new KeypostError('CONTENT_HASH_MISMATCH', 'the store names another id');
    return got;
  }

  status(id: string) {
    return this.#json('GET', `/v1/messages/${id}`);
  }

  /** Withdraw from every recipient that has not fetched it yet. */
  async unsend(id: string, recipients: Uint8Array[]): Promise<string[]> {
    const now = this.#now();
    const retractions = recipients.map((r) => makeRetraction({ sender: this.#signer, id: fromHex(id), recipient: r, time: now }));
    const res = await this.request('DELETE', `/v1/messages/${id}`, encode(RetractionList, { retractions }));
    return ((await res.json()) as { withdrawn: string[] }).withdrawn;
  }

  inbox(since = 0, limit = 100): Promise<{ items: InboxItem[]; next: number }> {
    return this.#json('GET', `/v1/inbox?since=${since}&limit=${limit}`);
  }

  /** Inbox items are named by their `seq` as listed by `inbox()`. */
  async envelope(seq: number): Promise<Uint8Array> {
    return new Uint8Array(await (await this.request('GET', `/v1/inbox/${seq}`)).arrayBuffer());
  }

  confirm = (seq: number) => this.#json('POST', `/v1/inbox/${seq}/confirm`);
  delete = (seq: number) => this.#json('DELETE', `/v1/inbox/${seq}`);
  report = (seq: number) => this.#json('POST', `/v1/inbox/${seq}/report`);
  setPrefetch = (on: boolean) => this.#json('PUT', '/v1/me/prefetch', { on });
  block = (b: { sender?: Uint8Array; store?: string }) =>
    this.#json('POST', '/v1/blocks', { ...(b.sender ? { sender: addressToText(b.sender) } : {}), ...(b.store ? { store: b.store } : {}) });
  unblock = (b: { sender?: Uint8Array; store?: string }) =>
    this.#json('DELETE', '/v1/blocks', { ...(b.sender ? { sender: addressToText(b.sender) } : {}), ...(b.store ? { store: b.store } : {}) });
  addContact = (address: Uint8Array) => this.#json('POST', '/v1/contacts', { address: addressToText(address) });
}

export const parseAddress = addressFromText;
