/**
 * Signed, expiring assertions: which stores serve an address, which subkeys it uses,
 * which legacy name it answers to, what it demands of strangers. Only the identity key
 * signs them. The transport (DNS, HTTPS) is untrusted; these checks are the truth.
 */
import { KeypostError } from '../errors.js';
import { equal } from '../bytes/index.js';
import { addressOf, checkEncryptionPublicKey, checkSigningPublicKey, type SigningKey } from '../identity/index.js';
import { decode, encode } from '../wire/index.js';
import {
  Assertion,
  AssertionBody,
  KeysContent,
  NameContent,
  PolicyContent,
  StoresContent,
  type KeysContent as Keys,
  type NameContent as Name,
  type PolicyContent as Policy,
  type StoresContent as Stores,
} from '../wire/schema.js';
import { LABELS } from './labels.js';
import { checkSignature, resolveSigner, signBytes, type VerifyContext } from './signed.js';
import { identitySigner, PURPOSE } from './signer.js';
import { checkWindow } from './time.js';

export const ASSERTION_TYPE = { stores: 1, keys: 2, name: 3, policy: 4 } as const;
export type AssertionTypeName = keyof typeof ASSERTION_TYPE;

export type AssertionContent =
  | { type: 'stores'; stores: Stores['stores'] }
  | { type: 'keys'; keys: Keys['keys'] }
  | { type: 'name'; name: string }
  | { type: 'policy'; policy: Policy };

const LOCAL = /^[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?$/;
// Domains in their ASCII (punycode) form, so internationalised TLDs (xn--...) are allowed.
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

/** Legacy names are lowercase `local@domain`; one spelling, so both directions compare exactly. */
export function parseLegacyName(name: string): { local: string; domain: string } {
  const at = name.lastIndexOf('@');
  const local = name.slice(0, at);
  const domain = name.slice(at + 1);
  if (at < 1 || !LOCAL.test(local) || !DOMAIN.test(domain)) {
    throw new KeypostError('WIRE_BAD_TYPE', `not a lowercase local@domain name: ${JSON.stringify(name.slice(0, 80))}`);
  }
  return { local, domain };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Store URLs are https origins (plain http only on loopback, for tests and local use). */
export function checkStoreUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new KeypostError('WIRE_BAD_TYPE', 'store URL does not parse');
  }
  const ok = (u.protocol === 'https:' || (u.protocol === 'http:' && isLoopback(u.hostname))) && u.origin === url;
  if (!ok) throw new KeypostError('WIRE_BAD_TYPE', `store URL must be an https origin: ${JSON.stringify(url.slice(0, 80))}`);
}

function encodeContent(c: AssertionContent): Uint8Array {
  switch (c.type) {
    case 'stores':
      c.stores.forEach((s) => checkStoreUrl(s.url));
      return encode(StoresContent, { stores: c.stores });
    case 'keys':
      c.keys.forEach(checkKeyEntry);
      return encode(KeysContent, { keys: c.keys });
    case 'name':
      parseLegacyName(c.name);
      return encode(NameContent, { name: c.name });
    case 'policy':
      return encode(PolicyContent, c.policy);
  }
}

function checkKeyEntry(k: Keys['keys'][number]) {
  if (k.purpose === PURPOSE.encryption) checkEncryptionPublicKey(k.key);
  else if (k.purpose === PURPOSE.device || k.purpose === PURPOSE.storeDelegate) checkSigningPublicKey(k.key);
  else throw new KeypostError('WIRE_BAD_TYPE', `unknown key purpose ${k.purpose}`);
}

function decodeContent(type: number, bytes: Uint8Array): AssertionContent {
  switch (type) {
    case ASSERTION_TYPE.stores: {
      const { stores } = decode(StoresContent, bytes);
      stores.forEach((s) => checkStoreUrl(s.url));
      return { type: 'stores', stores };
    }
    case ASSERTION_TYPE.keys: {
      const { keys } = decode(KeysContent, bytes);
      keys.forEach(checkKeyEntry);
      return { type: 'keys', keys };
    }
    case ASSERTION_TYPE.name: {
      const { name } = decode(NameContent, bytes) as Name;
      parseLegacyName(name);
      return { type: 'name', name };
    }
    case ASSERTION_TYPE.policy:
      return { type: 'policy', policy: decode(PolicyContent, bytes) };
    default:
      throw new KeypostError('WIRE_BAD_TYPE', `unknown assertion type ${type}`);
  }
}

export interface MakeAssertion {
  identity: SigningKey;
  seq: number;
  notBefore: number;
  notAfter: number;
  content: AssertionContent;
}

export function makeAssertion(o: MakeAssertion): Uint8Array {
  if (o.notAfter < o.notBefore) throw new KeypostError('INVALID_ARGUMENT', 'notAfter precedes notBefore');
  const body = encode(AssertionBody, {
    subject: o.identity.typedKey,
    type: ASSERTION_TYPE[o.content.type],
    seq: o.seq,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    content: encodeContent(o.content),
  });
  return signBytes(Assertion, LABELS.assertion, body, identitySigner(o.identity));
}

export interface VerifiedAssertion {
  subject: Uint8Array;
  address: Uint8Array;
  seq: number;
  notBefore: number;
  notAfter: number;
  content: AssertionContent;
}

export interface AssertionCheck extends VerifyContext {
  /** The address the assertion must be about. */
  address?: Uint8Array;
  /** The type the caller asked for. */
  type?: AssertionTypeName;
  /** Highest sequence number already seen for this address and type: anything lower is a rollback. */
  highestSeq?: number;
}

/** Cheapest checks first: size and decoding, subject, type, time, rollback, then the signature. */
export function verifyAssertion(bytes: Uint8Array, check: AssertionCheck): VerifiedAssertion {
  const c = decode(Assertion, bytes);
  if (c.cert) throw new KeypostError('CERT_PURPOSE', 'assertions are signed by the identity key itself');
  const b = decode(AssertionBody, c.body);
  const address = addressOf(b.subject);
  if (check.address && !equal(address, check.address)) throw new KeypostError('SUBJECT_MISMATCH', 'assertion is about another address');
  const content = decodeContent(b.type, b.content);
  if (check.type && content.type !== check.type) throw new KeypostError('WRONG_TYPE', `expected ${check.type}, got ${content.type}`);
  checkWindow(b.notBefore, b.notAfter, check, 'assertion');
  if (check.highestSeq !== undefined && b.seq < check.highestSeq) {
    throw new KeypostError('ROLLBACK', `sequence ${b.seq} < ${check.highestSeq} already seen`);
  }
  checkSignature(c, LABELS.assertion, resolveSigner(c, b.subject, [], check));
  return { subject: b.subject, address, seq: b.seq, notBefore: b.notBefore, notAfter: b.notAfter, content };
}
