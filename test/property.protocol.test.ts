/**
 * Property tests of the signed-object verifiers: verifySubkeyCert, verifyRevocation,
 * verifyAssertion, verifyNotification, verifyReceipt, verifyRetraction and
 * verifyFetchRequest. Each gets three properties of RUNS cases:
 *
 *  - arbitrary bytes never verify, and fail only with a KeypostError;
 *  - mutations of genuine objects (byte-level, cross-type splicing, and structural ones
 *    that re-wrap a changed body, signature or certificate canonically) fail with a
 *    KeypostError or verify to exactly the original: same bytes, same result;
 *  - plausible objects — sane or wild bodies, perturbed models, widened headers, signed by
 *    the right key, a wrong key, a wrong certificate or under a wrong label, checked in
 *    several contexts — verify only when an authorized key signed exactly these bytes and
 *    the spec's conditions hold (restated here independently of src/); and an intact,
 *    sane, properly signed object always verifies in the default context.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { crypto } from '../src/crypto/index.js';
import {
  certifySubkey,
  DEFAULT_SKEW,
  FRESHNESS,
  labelled,
  LABELS,
  makeAssertion,
  makeFetchRequest,
  makeNotification,
  makeReceipt,
  makeRetraction,
  mintStamp,
  PURPOSE,
  revokeKey,
  verifyAssertion,
  verifyFetchRequest,
  verifyNotification,
  verifyReceipt,
  verifyRetraction,
  verifyRevocation,
  verifySubkeyCert,
  type Label,
} from '../src/protocol/index.js';
import { seededRandom } from '../src/crypto/index.js';
import { decode, encode } from '../src/wire/index.js';
import * as W from '../src/wire/schema.js';
import { NOW } from './helpers.js';
import {
  ALL_CERTS,
  attachedCert,
  attempt,
  authorized,
  bytesArb,
  check,
  concatBytes,
  containerModel,
  deepEqual,
  encodeBody,
  encodeModel,
  ENCRYPTION_KEYS,
  fewFormsArb,
  fewPerturbationsArb,
  fill,
  hex,
  lengthArb,
  mutate,
  mutationsArb,
  perturb,
  perturbationArb,
  RUNS,
  same,
  signAs,
  signerChoiceArb,
  SIGNING_KEYS,
  structuredCloneModel,
  textArb,
  toModel,
  uintArb,
  USERS,
  validArb,
  type AnyStruct,
  type KeyKind,
  type SignerChoice,
} from './property.lib.test.js';

const SKEW = DEFAULT_SKEW;
const DAY = 86400;
const [alice, bob] = [USERS[0]!, USERS[1]!];
const STORE = 'https://store.example';
const FIXED_ID = fill(32, 7);
/** In the "revoked" contexts, alice's device key and bob's identity key are revoked. */
const isRevoked = (k: Uint8Array) => same(k, alice.device.key.publicKey) || same(k, bob.identity.publicKey);
function notRevoked(r: { signedBy: { identityKey: Uint8Array; signingKey: Uint8Array } }) {
  check(!isRevoked(r.signedBy.signingKey) && !isRevoked(r.signedBy.identityKey), 'a revoked key signed');
}
const rnd = seededRandom('property.protocol');

// ---- independent restatements of the spec's conditions ------------------------------------

const sha256 = (b: Uint8Array) => crypto().sha256(b);
const ADDRESS_PREFIX = new TextEncoder().encode('keypost/v1/address\0');
const addressOfTyped = (typed: Uint8Array) => sha256(concatBytes(ADDRESS_PREFIX, typed));

/** A store URL is an https origin, or an http origin on a loopback host. */
function isStoreOrigin(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(u.hostname);
  return u.origin === url && (u.protocol === 'https:' || (u.protocol === 'http:' && loopback));
}

/** Legacy names (spec §7.5): lowercase local@domain; the TLD is 2-63 letters or an xn-- label. */
function isLegacyName(name: string): boolean {
  const at = name.lastIndexOf('@');
  if (at < 1) return false;
  const local = name.slice(0, at);
  const labels = name.slice(at + 1).split('.');
  if (!/^[a-z0-9]([a-z0-9._+-]*[a-z0-9])?$/.test(local) || local.length > 64) return false;
  if (name.length - at - 1 > 253 || labels.length < 2) return false;
  const tld = labels[labels.length - 1]!;
  return /^([a-z]{2,63}|xn--[a-z0-9-]{1,59})$/.test(tld) && labels.slice(0, -1).every((l) => /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(l) && l.length <= 63);
}

function leadingZeros(h: Uint8Array): number {
  let n = 0;
  for (const b of h) {
    if (b === 0) n += 8;
    else return n + Math.clz32(b) - 24;
  }
  return n;
}

function inWindow(notBefore: number, notAfter: number, now: number, skew = SKEW) {
  return notBefore <= notAfter && now + skew >= notBefore && now - skew <= notAfter;
}

// ---- field arbitraries ---------------------------------------------------------------------

const GOOD_URLS = ['https://store.example', 'https://a.example', 'https://mail.example.org:8443', 'http://localhost:8080', 'http://127.0.0.1:3000', 'http://[::1]:9000', 'https://xn--bcher-kva.example'];
const BAD_URLS = [
  'https://store.example/',
  'http://store.example',
  'ftp://a.example',
  'https://a.example/path',
  'https://user@a.example',
  'https://A.example',
  'https://a.example:443',
  'https://bücher.example',
  'not a url',
  'https://a.example?q',
  'http://127.0.0.1.nip.io',
  'javascript:alert(1)',
];
const goodUrlArb = fc.oneof(fc.constantFrom(...GOOD_URLS), fc.domain().filter((d) => d.length <= 180).map((d) => `https://${d}`));
const urlArb = fc.oneof({ weight: 3, arbitrary: goodUrlArb }, fc.constantFrom(...BAD_URLS), textArb(8, 200));
const timeArb = (lo: number, hi: number) => fc.oneof({ weight: 4, arbitrary: fc.integer({ min: lo, max: hi }) }, fc.constantFrom(lo, hi));
const idArb = fc.oneof(fc.constant(FIXED_ID), bytesArb(32, 32));
const whoArb = fc.nat(USERS.length - 1);
const typed = (who: number) => USERS[who]!.identity.typedKey;

/** Times just inside and just outside every window the verifiers check. */
const EDGE_TIMES = [0, 1, NOW, 0xffffffff, 0xfffffffe, ...[SKEW, -SKEW, -SKEW - FRESHNESS, 30 * DAY, -30 * DAY, 365 * DAY, -DAY].flatMap((d) => [NOW + d - 1, NOW + d, NOW + d + 1])];

/**
 * Wild bodies: a sane body with about a quarter of its fields replaced by any schema-valid
 * value (times often just around a window's edge).
 */
function wildArb<B extends object>(t: AnyStruct, sane: fc.Arbitrary<{ who: number; v: B }>): fc.Arbitrary<{ who: number; v: B }> {
  const n = t.fields.length;
  return fc.tuple(sane, validArb(t), fc.array(fc.nat(3), { minLength: n, maxLength: n }), fc.array(fc.constantFrom(...EDGE_TIMES), { minLength: n, maxLength: n })).map(([s, r, mask, edges]) => {
    const v: Record<string, unknown> = { ...(s.v as Record<string, unknown>) };
    t.fields.forEach((f, i) => {
      if (mask[i] === 1 && f.type.kind === 'uint' && f.type.max === 0xffffffff) v[f.name] = edges[i];
      if (mask[i] !== 0) return;
      if (r[f.name] === undefined) delete v[f.name];
      else v[f.name] = r[f.name];
    });
    return { who: s.who, v: v as B };
  });
}

// ---- the verifiers under test ----------------------------------------------------------------

type Container = { body: Uint8Array; sig: Uint8Array; cert?: Uint8Array };

interface Case {
  name: string;
  container: AnyStruct;
  body: AnyStruct;
  label: Label;
  /** Kinds of key allowed to sign it. */
  allowed: KeyKind[];
  /** The identity the body claims (typed key). */
  claimed(b: any): Uint8Array;
  contexts: readonly string[];
  verify(bytes: Uint8Array, ctx: number): any;
  /** On success: the result must agree with the decoded body and satisfy the spec in context `ctx`. */
  post(r: any, b: any, dc: Container, bytes: Uint8Array, ctx: number): void;
  /** Bodies claiming USERS[who] that pass every check in context 0 when properly signed. */
  sane: fc.Arbitrary<{ who: number; v: any }>;
  /** More bodies that may break the rules, beyond sane ones with random fields. */
  wild?: fc.Arbitrary<{ who: number; v: any }>;
  /** Genuine objects, made by src/'s own constructors. */
  genuine(): Uint8Array[];
}

const resultBody = (r: any, b: any, what: string) => check(deepEqual(r.body, b), `${what}: result body is not the decoded body`);
function checkSignedBy(r: any, b: any, claimed: Uint8Array, allowed: readonly number[]) {
  check(same(r.signedBy.identityKey, claimed.subarray(1)), 'signedBy.identityKey is not the claimed identity');
  if (r.signedBy.purpose === undefined) check(same(r.signedBy.signingKey, claimed.subarray(1)), 'identity signature by another key');
  else check(allowed.includes(r.signedBy.purpose), `purpose ${r.signedBy.purpose} may not sign this`);
  void b;
}

const certCase: Case = {
  name: 'verifySubkeyCert',
  container: W.SubkeyCert,
  body: W.SubkeyCertBody,
  label: LABELS.subkey,
  allowed: ['identity'],
  claimed: (b) => b.identity,
  contexts: ['now', 'now + 2 years', 'no skew', 'now - 2 days', 'revoked'],
  verify(bytes, ctx) {
    const clock = [{ now: NOW }, { now: NOW + 730 * DAY }, { now: NOW, skew: 0 }, { now: NOW - 2 * DAY }, { now: NOW, isRevoked }][ctx]!;
    return verifySubkeyCert(bytes, clock);
  },
  post(r, b, _dc, _bytes, ctx) {
    check(deepEqual(r, b), 'verifySubkeyCert: result is not the decoded body');
    const now = [NOW, NOW + 730 * DAY, NOW, NOW - 2 * DAY, NOW][ctx]!;
    check(inWindow(b.notBefore, b.notAfter, now, ctx === 2 ? 0 : SKEW), 'certificate outside its validity window');
    check([1, 2, 3].includes(b.purpose), `purpose ${b.purpose}`);
    if (ctx === 4) check(!isRevoked(b.identity.subarray(1)) && !isRevoked(b.subkey), 'a certificate by a revoked identity, or of a revoked subkey');
  },
  sane: fc
    .record({ who: whoArb, purpose: fc.constantFrom(1, 2, 3), k: fc.nat(), nb: timeArb(NOW - 400 * DAY, NOW + SKEW), len: timeArb(0, 800 * DAY) })
    .map(({ who, purpose, k, nb, len }) => {
      const keys = purpose === 2 ? ENCRYPTION_KEYS : SIGNING_KEYS;
      const notAfter = Math.max(nb + len, NOW - SKEW);
      return { who, v: { identity: typed(who), purpose, subkey: keys[k % keys.length]!, notBefore: nb, notAfter: Math.min(notAfter, 0xffffffff) } };
    }),
  genuine: () => [
    ...ALL_CERTS,
    certifySubkey({ identity: bob.identity, purpose: PURPOSE.encryption, subkey: bob.enc.publicKey, notBefore: NOW - DAY, notAfter: NOW + DAY }),
  ],
};

const revocationCase: Case = {
  name: 'verifyRevocation',
  container: W.Revocation,
  body: W.RevocationBody,
  label: LABELS.revocation,
  allowed: ['identity'],
  claimed: (b) => b.identity,
  contexts: ['-'],
  verify: (bytes) => verifyRevocation(bytes),
  post(r, b) {
    check(deepEqual(r, b), 'verifyRevocation: result is not the decoded body');
    check(b.reason <= 3, `revocation reason ${b.reason}`);
  },
  sane: fc
    .record({ who: whoArb, revoked: fc.oneof(fc.constantFrom(...SIGNING_KEYS), bytesArb(32, 32)), time: uintArb(0, 0xffffffff), reason: fc.nat(3) })
    .map(({ who, ...rest }) => ({ who, v: { identity: typed(who), ...rest } })),
  genuine: () => [
    revokeKey({ identity: alice.identity, revoked: alice.device.key.publicKey, time: NOW, reason: 1 }),
    revokeKey({ identity: bob.identity, revoked: bob.identity.publicKey, time: 0, reason: 3 }),
  ],
};

// Assertions: the content is a structure of its own, sane or not.
const storesArb = fc.array(fc.record({ priority: uintArb(0, 0xffff), url: goodUrlArb }), { minLength: 1, maxLength: 8 });
const keyEntryArb = fc.record({ purpose: fc.constantFrom(1, 2, 3), k: fc.nat(), notAfter: uintArb(0, 0xffffffff) }).map(({ purpose, k, notAfter }) => {
  const keys = purpose === 2 ? ENCRYPTION_KEYS : SIGNING_KEYS;
  return { purpose, key: keys[k % keys.length]!, notAfter };
});
const nameArb = fc.oneof(
  fc.constantFrom('alice@example.com', 'a@b.cd', 'x.y+z@mail.example.org', 'bob-1@xn--bcher-kva.example', 'c@example.xn--p1ai', 'd_e@a-b.xn--3e0b707e'),
  fc.tuple(fc.stringMatching(/^[a-z0-9]([a-z0-9._+-]{0,20}[a-z0-9])?$/), fc.domain()).map(([l, d]) => `${l}@${d}`).filter(isLegacyName),
);
const saneContentArb = fc.oneof(
  storesArb.map((stores) => ({ type: 1, content: encode(W.StoresContent, { stores }) })),
  fc.array(keyEntryArb, { minLength: 1, maxLength: 32 }).map((keys) => ({ type: 2, content: encode(W.KeysContent, { keys }) })),
  nameArb.map((name) => ({ type: 3, content: encode(W.NameContent, { name }) })),
  validArb(W.PolicyContent).map((p) => ({ type: 4, content: encode(W.PolicyContent, p) })),
);
/** Schema-valid contents that may break the content rules: any URL, key, name, or another type's content. */
const wildContentArb = fc.oneof(
  fc.array(fc.record({ priority: uintArb(0, 0xffff), url: urlArb }), { minLength: 1, maxLength: 3 }).map((stores) => ({ type: 1, content: encode(W.StoresContent, { stores }) })),
  fc.array(validArb(W.SubkeyEntry), { minLength: 1, maxLength: 3 }).map((keys) => ({ type: 2, content: encode(W.KeysContent, { keys }) })),
  textArb(3, 254).map((name) => ({ type: 3, content: encode(W.NameContent, { name }) })),
  fc.tuple(fc.integer({ min: 1, max: 6 }), saneContentArb).map(([type, c]) => ({ type, content: c.content })),
  fc.tuple(fc.integer({ min: 1, max: 4 }), bytesArb(1, 100)).map(([type, content]) => ({ type, content })),
);
function assertionBodyArb(contentArb: fc.Arbitrary<{ type: number; content: Uint8Array }>) {
  return fc
    .record({ who: whoArb, c: contentArb, seq: fc.oneof(uintArb(0, 0xffffffff), fc.integer({ min: 997, max: 1003 })), nb: timeArb(NOW - 400 * DAY, NOW + SKEW), len: timeArb(0, 800 * DAY) })
    .map(({ who, c, seq, nb, len }) => ({
      who,
      v: { subject: typed(who), type: c.type, seq, notBefore: nb, notAfter: Math.min(Math.max(nb + len, NOW - SKEW), 0xffffffff), content: c.content },
    }));
}
const ASSERTION_CHECKS = [{}, { address: alice.address }, { type: 'keys' as const }, { highestSeq: 1000 }, { now: NOW + 400 * DAY }, { isRevoked }];
const CONTENT_OF = { 1: ['stores', W.StoresContent], 2: ['keys', W.KeysContent], 3: ['name', W.NameContent], 4: ['policy', W.PolicyContent] } as const;

const assertionCase: Case = {
  name: 'verifyAssertion',
  container: W.Assertion,
  body: W.AssertionBody,
  label: LABELS.assertion,
  allowed: ['identity'],
  claimed: (b) => b.subject,
  contexts: ['now', 'address', 'type', 'highestSeq', 'later', 'revoked'],
  verify: (bytes, ctx) => verifyAssertion(bytes, { now: NOW, ...ASSERTION_CHECKS[ctx]! }),
  post(r, b, _dc, _bytes, ctx) {
    const chk = { now: NOW, ...ASSERTION_CHECKS[ctx]! } as { now: number; address?: Uint8Array; type?: string; highestSeq?: number; isRevoked?: unknown };
    check(same(r.subject, b.subject) && r.seq === b.seq && r.notBefore === b.notBefore && r.notAfter === b.notAfter, 'assertion fields differ from the body');
    check(same(r.address, addressOfTyped(b.subject)), 'assertion address is not the hash of its subject');
    const [typeName, struct] = CONTENT_OF[b.type as 1 | 2 | 3 | 4] ?? [];
    check(typeName !== undefined && r.content.type === typeName, `assertion type ${b.type} accepted as ${r.content.type}`);
    const c = decode(struct! as AnyStruct, b.content) as any;
    const { type: _t, ...content } = r.content;
    check(deepEqual(typeName === 'policy' ? content.policy : content, c), 'assertion content differs from the body');
    if (typeName === 'stores') check(c.stores.every((s: any) => isStoreOrigin(s.url)), 'a store URL that is not an origin');
    if (typeName === 'keys') check(c.keys.every((k: any) => [1, 2, 3].includes(k.purpose)), 'a key of unknown purpose');
    if (typeName === 'name') check(isLegacyName(c.name), `name ${JSON.stringify(c.name)}`);
    check(inWindow(b.notBefore, b.notAfter, chk.now), 'assertion outside its window');
    if (chk.address) check(same(r.address, chk.address), 'assertion about another address');
    if (chk.type) check(r.content.type === chk.type, 'assertion of another type');
    if (chk.highestSeq !== undefined) check(b.seq >= chk.highestSeq, 'rollback accepted');
    if (chk.isRevoked) check(!isRevoked(b.subject.subarray(1)), 'an assertion by a revoked identity');
  },
  sane: assertionBodyArb(saneContentArb),
  wild: assertionBodyArb(wildContentArb),
  genuine: () => [
    makeAssertion({ identity: alice.identity, seq: 1, notBefore: NOW - DAY, notAfter: NOW + DAY, content: { type: 'stores', stores: [{ priority: 0, url: STORE }] } }),
    makeAssertion({
      identity: alice.identity,
      seq: 2000,
      notBefore: NOW - DAY,
      notAfter: NOW + DAY,
      content: { type: 'keys', keys: [{ purpose: 2, key: alice.enc.publicKey, notAfter: NOW + DAY }, { purpose: 1, key: alice.device.key.publicKey, notAfter: NOW + DAY }] },
    }),
    makeAssertion({ identity: bob.identity, seq: 7, notBefore: NOW, notAfter: NOW, content: { type: 'name', name: 'bob@example.com' } }),
    makeAssertion({ identity: bob.identity, seq: 0, notBefore: 0, notAfter: 0xffffffff, content: { type: 'policy', policy: { powBits: 10, powUnit: 65536, maxSize: 1 << 20 } } }),
  ],
};

const NOTIFICATION_CHECKS = [
  { now: NOW },
  { now: NOW, isLocalRecipient: (a: Uint8Array) => same(a, bob.address) },
  { now: NOW, isReplay: () => true },
  { now: NOW, powBits: () => 6 },
  { now: NOW, isRevoked },
  { now: NOW + 20 * DAY },
];
const notificationCase: Case = {
  name: 'verifyNotification',
  container: W.Notification,
  body: W.NotificationBody,
  label: LABELS.notification,
  allowed: ['identity', 'device'],
  claimed: (b) => b.sender,
  contexts: ['now', 'local recipient', 'replay', 'pow', 'revoked', 'later'],
  verify: (bytes, ctx) => verifyNotification(bytes, NOTIFICATION_CHECKS[ctx]!),
  post(r, b, dc, bytes, ctx) {
    const now = NOTIFICATION_CHECKS[ctx]!.now;
    resultBody(r, b, 'verifyNotification');
    checkSignedBy(r, b, b.sender, [PURPOSE.device]);
    check(bytes.length <= 1024, 'notification over 1024 bytes');
    check(b.expires >= b.time && b.expires - b.time <= 30 * DAY, 'notification lifetime out of range');
    check(b.time <= now + SKEW && b.expires >= now - SKEW, 'notification outside its time');
    check(isStoreOrigin(b.store), `store ${JSON.stringify(b.store)}`);
    check(same(r.sender, addressOfTyped(b.sender)) && same(r.hash, sha256(dc.body)), 'sender address or hash wrong');
    if (ctx === 1) check(same(b.recipient, bob.address), 'notification for someone not served here');
    check(ctx !== 2, 'a replay was accepted');
    if (ctx === 3) check(b.pow && leadingZeros(sha256(labelled(LABELS.pow, b.recipient, b.id, b.pow))) >= 6, 'proof of work short');
    if (ctx === 4) notRevoked(r);
  },
  sane: fc
    .record({
      who: whoArb,
      recipient: fc.oneof(fc.constant(bob.address), bytesArb(32, 32)),
      store: goodUrlArb,
      id: idArb,
      size: uintArb(0, W.LIMITS.PAYLOAD),
      time: timeArb(NOW - 10 * DAY, NOW + SKEW),
      life: fc.nat(30 * DAY),
      pow: fc.constantFrom('none', 'random', 'minted'),
      sealed: fc.option(fc.record({ ephemeral: bytesArb(32, 32), box: bytesArb(16, 180) }), { nil: undefined }),
    })
    .map(({ who, recipient, store, id, size, time, life, pow, sealed }) => {
      const expires = Math.min(Math.max(time + life, NOW - SKEW), time + 30 * DAY);
      const v: any = { recipient, sender: typed(who), store, id, size, time, expires };
      if (pow === 'random') v.pow = fill(8, life + 1);
      if (pow === 'minted') v.pow = mintStamp(recipient, id, 6, rnd);
      if (sealed) v.sealed = sealed;
      return { who, v };
    }),
  genuine: () => [
    makeNotification({ sender: alice.device, recipient: { address: bob.address, encryptionKey: bob.enc.publicKey }, store: STORE, id: FIXED_ID, size: 1000, time: NOW, expires: NOW + DAY, subjectHint: 'hi', random: rnd }),
    makeNotification({ sender: bob.signer, recipient: { address: alice.address }, store: 'http://localhost:8080', id: fill(32, 3), size: 0, time: NOW - DAY, expires: NOW + 29 * DAY, pow: mintStamp(alice.address, fill(32, 3), 6, rnd), random: rnd }),
  ],
};

const freshArb = timeArb(NOW - SKEW - FRESHNESS, NOW + SKEW);
const RECEIPT_CHECKS = [{ now: NOW }, { now: NOW, id: FIXED_ID }, { now: NOW, isRevoked }, { now: NOW + 1000 }];
const receiptCase: Case = {
  name: 'verifyReceipt',
  container: W.Receipt,
  body: W.ReceiptBody,
  label: LABELS.receipt,
  allowed: ['identity', 'device', 'delegate'],
  claimed: (b) => b.recipient,
  contexts: ['now', 'id', 'revoked', 'later'],
  verify: (bytes, ctx) => verifyReceipt(bytes, RECEIPT_CHECKS[ctx]!),
  post(r, b, dc, _bytes, ctx) {
    const c = RECEIPT_CHECKS[ctx]!;
    resultBody(r, b, 'verifyReceipt');
    checkSignedBy(r, b, b.recipient, [PURPOSE.device, PURPOSE.storeDelegate]);
    check(b.time <= c.now + SKEW && b.time >= c.now - SKEW - FRESHNESS, 'receipt not fresh');
    check(same(r.from, addressOfTyped(b.recipient)) && same(r.hash, sha256(dc.body)), 'from or hash wrong');
    if ('id' in c && c.id) check(same(b.id, c.id), 'receipt for another message');
    if (ctx === 2) notRevoked(r);
  },
  sane: fc.record({ who: whoArb, id: idArb, time: freshArb }).map(({ who, id, time }) => ({ who, v: { recipient: typed(who), id, time } })),
  genuine: () => [
    makeReceipt({ recipient: bob.delegate, id: FIXED_ID, time: NOW }),
    makeReceipt({ recipient: bob.device, id: fill(32, 9), time: NOW - 600 }),
    makeReceipt({ recipient: alice.signer, id: FIXED_ID, time: NOW + 300 }),
  ],
};

// The fixtures' certificates are valid from NOW - 1 day to NOW + 365 days; retractions are only refused from the future.
const RETRACTION_CHECKS = [{ now: NOW }, { now: NOW, id: FIXED_ID }, { now: NOW - 1000 }, { now: NOW, isRevoked }, { now: NOW + 400 * DAY }, { now: NOW - 2 * DAY }];
const retractionCase: Case = {
  name: 'verifyRetraction',
  container: W.Retraction,
  body: W.RetractionBody,
  label: LABELS.retraction,
  allowed: ['identity', 'device'],
  claimed: (b) => b.sender,
  contexts: ['now', 'id', 'earlier', 'revoked', 'certificates expired', 'certificates not yet valid'],
  verify: (bytes, ctx) => verifyRetraction(bytes, RETRACTION_CHECKS[ctx]!),
  post(r, b, dc, _bytes, ctx) {
    const c = RETRACTION_CHECKS[ctx]!;
    resultBody(r, b, 'verifyRetraction');
    checkSignedBy(r, b, b.sender, [PURPOSE.device]);
    check(b.time <= c.now + SKEW, 'retraction from the future');
    check(same(r.from, addressOfTyped(b.sender)) && same(r.hash, sha256(dc.body)), 'from or hash wrong');
    if ('id' in c && c.id) check(same(b.id, c.id), 'retraction of another message');
    if (ctx === 3) notRevoked(r);
    if (ctx >= 4) check(r.signedBy.purpose === undefined, 'a subkey signed outside its certificate\'s validity');
  },
  sane: fc
    .record({ who: whoArb, id: idArb, recipient: bytesArb(32, 32), time: fc.oneof(timeArb(NOW - 100 * DAY, NOW + SKEW), uintArb(0, NOW + SKEW)) })
    .map(({ who, ...rest }) => ({ who, v: { sender: typed(who), id: rest.id, recipient: rest.recipient, time: rest.time } })),
  genuine: () => [
    makeRetraction({ sender: alice.device, id: FIXED_ID, recipient: bob.address, time: NOW }),
    makeRetraction({ sender: bob.signer, id: fill(32, 4), recipient: alice.address, time: 0 }),
  ],
};

const FETCH_CHECKS = [
  { now: NOW, store: STORE },
  { now: NOW, store: 'https://other.example' },
  { now: NOW, store: STORE, id: FIXED_ID },
  { now: NOW, store: STORE, isRevoked },
];
const fetchCase: Case = {
  name: 'verifyFetchRequest',
  container: W.FetchRequest,
  body: W.FetchRequestBody,
  label: LABELS.fetch,
  allowed: ['identity', 'device', 'delegate'],
  claimed: (b) => b.requester,
  contexts: ['now', 'other store', 'id', 'revoked'],
  verify: (bytes, ctx) => verifyFetchRequest(bytes, FETCH_CHECKS[ctx]!),
  post(r, b, dc, _bytes, ctx) {
    const c = FETCH_CHECKS[ctx]!;
    resultBody(r, b, 'verifyFetchRequest');
    checkSignedBy(r, b, b.requester, [PURPOSE.device, PURPOSE.storeDelegate]);
    check(b.store === c.store, 'fetch request for another store');
    check(b.time <= c.now + SKEW && b.time >= c.now - SKEW - FRESHNESS, 'fetch request not fresh');
    check(same(r.from, addressOfTyped(b.requester)) && same(r.hash, sha256(dc.body)), 'from or hash wrong');
    if ('id' in c && c.id) check(same(b.id, c.id), 'fetch request for another message');
    if (ctx === 3) notRevoked(r);
  },
  sane: fc
    .record({ who: whoArb, id: idArb, time: freshArb, nonce: bytesArb(16, 16) })
    .map(({ who, ...rest }) => ({ who, v: { requester: typed(who), id: rest.id, store: STORE, time: rest.time, nonce: rest.nonce } })),
  genuine: () => [
    makeFetchRequest({ requester: bob.delegate, id: FIXED_ID, store: STORE, time: NOW, random: rnd }),
    makeFetchRequest({ requester: alice.device, id: fill(32, 5), store: STORE, time: NOW - 900, random: rnd }),
    makeFetchRequest({ requester: bob.signer, id: FIXED_ID, store: STORE, time: NOW + 300, random: rnd }),
  ],
};

const CASES: Case[] = [certCase, revocationCase, assertionCase, notificationCase, receiptCase, retractionCase, fetchCase];
const GENUINE = new Map(CASES.map((c) => [c, c.genuine()]));
/** Every genuine object of every type: splice partners, so that types get mixed too. */
const ALL_GENUINE = CASES.flatMap((c) => GENUINE.get(c)!);

// ---- generic pieces ------------------------------------------------------------------------------

function run(c: Case, bytes: Uint8Array, ctx: number) {
  return attempt(() => `${c.name}(${hex(bytes)}) [${c.contexts[ctx]}]`, () => c.verify(bytes, ctx));
}

/** Change one part of a genuine container (body, signature, certificate) and wrap it canonically again. */
function structural(c: Case, orig: Uint8Array, how: number, ms: Parameters<typeof mutate>[1], ps: Parameters<typeof perturb>[2]): Uint8Array {
  const dc = decode(c.container, orig) as Container;
  const next = { ...dc };
  switch (how % 6) {
    case 0: // body bytes mutated
      next.body = mutate(dc.body, ms);
      break;
    case 1: {
      // body changed as a structure: still msgpack, often still canonical and valid
      const m = perturb(structuredCloneModel(toModel(c.body, decode(c.body, dc.body))), c.body, ps.length ? ps : [{ site: how, op: 1, k: how, alt: { t: 'nil' } }]);
      next.body = encodeModel(m).bytes;
      break;
    }
    case 2: // signature mutated
      next.sig = mutate(dc.sig, ms);
      break;
    case 3: // certificate dropped or swapped for another
      if (dc.cert && how % 12 < 6) delete next.cert;
      else next.cert = ALL_CERTS[how % ALL_CERTS.length]!;
      break;
    case 4: // certificate mutated
      next.cert = mutate(dc.cert ?? ALL_CERTS[how % ALL_CERTS.length]!, ms);
      break;
    case 5: {
      // body of another genuine object of the same type, with this signature
      const pool = GENUINE.get(c)!;
      next.body = (decode(c.container, pool[how % pool.length]!) as { body: Uint8Array }).body;
      break;
    }
  }
  const r = attempt('encode container', () => encode(c.container, next));
  return r.ok ? r.value : encodeModel(containerModel(next.body, next.sig, next.cert)).bytes;
}

describe.each(CASES.map((c) => ({ name: c.name, c })))('$name', ({ name, c }) => {
  const genuine = GENUINE.get(c)!;
  const expected = genuine.map((g) => c.verify(g, 0));

  test('genuine objects verify (fixture check)', () => {
    for (const g of genuine) expect(run(c, g, 0).ok).toBe(true);
  });

  test(`arbitrary bytes never verify (${RUNS} runs)`, () => {
    const lim = c.container.maxSize + 16;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 48 }),
          fc.tuple(fc.uint8Array({ maxLength: 24 }), lengthArb(0, lim, lim), fc.integer()).map(([h, n, s]) => concatBytes(h, fill(n, s))),
          fc.tuple(fc.integer({ min: 0x82, max: 0x83 }), fc.uint8Array({ maxLength: lim, size: 'max' })).map(([h, r]) => Uint8Array.of(h, 1, 0xc4, ...r)),
        ),
        fc.nat(c.contexts.length - 1),
        (b, ctx) => {
          const r = run(c, b, ctx);
          check(!r.ok, () => `${name} accepted arbitrary bytes ${hex(b)}`);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test(`mutated genuine objects fail, or verify to exactly the original (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(fc.nat(genuine.length - 1), mutationsArb, fc.nat(), fc.array(perturbationArb, { maxLength: 2 }), (i, ms, how, ps) => {
        const orig = genuine[i]!;
        const input = how % 2 === 0 ? mutate(orig, ms, ALL_GENUINE) : structural(c, orig, how >> 1, ms, ps);
        const r = run(c, input, 0);
        if (r.ok) {
          // Splicing two genuine objects can rebuild a third one; anything else is a changed object.
          const k = genuine.findIndex((g) => same(g, input));
          check(k >= 0, () => `${name} verified a changed object ${hex(input)} (original ${hex(orig)})`);
          check(deepEqual(r.value, expected[k]), () => `${name} verified a genuine object to another result`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  test(`plausible objects verify exactly when properly signed and valid (${RUNS} runs)`, () => {
    let verified = 0;
    const wild = c.wild ? fc.oneof(wildArb(c.body, c.sane), c.wild) : wildArb(c.body, c.sane);
    const bodies = fc.oneof({ weight: 3, arbitrary: c.sane.map((x) => ({ ...x, sane: true })) }, { weight: 2, arbitrary: wild.map((x) => ({ ...x, sane: false })) });
    const ctxArb = fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, fc.nat(c.contexts.length - 1));
    fc.assert(
      fc.property(bodies, signerChoiceArb(c.allowed), fewPerturbationsArb, fewFormsArb, fewPerturbationsArb, fewFormsArb, ctxArb, (x, sc, bodyPs, bodyForms, contPs, contForms, ctx) => {
        const choice: SignerChoice = sc.pick(x.who);
        const body = encodeBody(c.body, x.v, bodyPs, bodyForms);
        const sig = signAs(choice, c.label, body.bytes);
        const cert = attachedCert(choice);
        const cm = containerModel(body.bytes, sig, cert);
        const activeCont = contPs.filter((p) => p.op < 6);
        const enc = encodeModel(activeCont.length ? perturb(cm, c.container, activeCont) : cm, contForms);
        const r = run(c, enc.bytes, ctx);
        if (r.ok) {
          verified++;
          const dc = decode(c.container, enc.bytes) as Container;
          check(same(dc.body, body.bytes) && same(dc.sig, sig), () => `${name} verified a body or signature that was not the one signed: ${hex(enc.bytes)}`);
          // A perturbation may drop the attached certificate; what verified must then stand without
          // one (the signer check below says it was the identity), never with another certificate.
          check(dc.cert === undefined || (cert !== undefined && same(dc.cert, cert)), () => `${name} verified with another certificate: ${hex(enc.bytes)}`);
          const b = decode(c.body, dc.body);
          const signedAs: SignerChoice = dc.cert === undefined ? { ...choice, cert: 'none' } : choice;
          check(authorized(signedAs, c.claimed(b), c.allowed), () => `${name} verified an object not signed by an authorized key: ${JSON.stringify(choice)} ${hex(enc.bytes)}`);
          c.post(r.value, b, dc, enc.bytes, ctx);
        } else if (x.sane && body.intact && activeCont.length === 0 && !enc.widened && ctx === 0 && authorized(choice, c.claimed(x.v), c.allowed)) {
          throw new Error(`${name} refused a sane, properly signed object (${r.code}: ${r.error.message}): ${hex(enc.bytes)}`);
        }
      }),
      { numRuns: RUNS },
    );
    // Deep enough: a good share of inputs gets all the way through.
    expect(verified).toBeGreaterThan(RUNS * 0.1);
  });
});
