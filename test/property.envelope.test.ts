/**
 * Property tests of the two decryptors: openEnvelope (small envelopes) and openSubjectHint.
 *
 * The plausible inputs are sealed here, with the envelope's and the hint's key schedule
 * restated from the spec, around perturbed plaintexts, headers and containers, so that
 * decryption succeeds and the decoders and signature checks behind it are reached.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { crypto, seededRandom } from '../src/crypto/index.js';
import { EncryptionKey } from '../src/identity/index.js';
import { LABELS, makeNotification, openEnvelope, openSubjectHint, sealEnvelope, verifyNotification } from '../src/protocol/index.js';
import { decode, encode } from '../src/wire/index.js';
import * as W from '../src/wire/schema.js';
import { NOW } from './helpers.js';
import {
  attachedCert,
  attempt,
  authorized,
  bytesArb,
  check,
  concatBytes,
  deepEqual,
  encodeBody,
  encodeModel,
  oracleDecode,
  fewFormsArb,
  fewPerturbationsArb,
  fill,
  hex,
  lengthArb,
  mBin,
  mInt,
  mutate,
  mutationsArb,
  perturb,
  plausibleArb,
  RUNS,
  same,
  signAs,
  signerChoiceArb,
  textArb,
  uintArb,
  USERS,
  validArb,
  type KeyKind,
  type M,
} from './property.lib.test.js';

const [alice, bob] = [USERS[0]!, USERS[1]!];
const rnd = seededRandom('property.envelope');
const utf8 = (s: string) => new TextEncoder().encode(s);
const sha256 = (b: Uint8Array) => crypto().sha256(b);
const hkdf = (ikm: Uint8Array, salt: Uint8Array, info: string, n: number) => crypto().hkdfSha256(ikm, salt, utf8(info), n);
const ZERO_NONCE = new Uint8Array(24);
const ADDRESS_PREFIX = utf8('keypost/v1/address\0');
const addressOfTyped = (typed: Uint8Array) => sha256(concatBytes(ADDRESS_PREFIX, typed));

/** Other recipients' keys (X25519), and a few ephemeral keys with their secrets towards every recipient precomputed. */
const OTHERS = [0, 1, 2].map(() => EncryptionKey.generate(rnd));
const RECIPIENT_KEYS = [bob.enc, ...OTHERS];
const EPHEMERALS = [0, 1, 2, 3].map(() => EncryptionKey.generate(rnd));

/** X25519 public keys of small order (RFC 7748 decoding: bit 255 ignored, u taken mod p), every encoding. */
const P25519 = 2n ** 255n - 19n;
const le32 = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
const SMALL_ORDER_U = [
  0n,
  1n,
  P25519 - 1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
];
const SMALL_ORDER = SMALL_ORDER_U.flatMap((u) => [u, u + P25519].filter((x) => x < 2n ** 255n)) // u + p only when it fits 255 bits
  .flatMap((x) => [x, x + (1n << 255n)]) // with and without the ignored top bit
  .map(le32);
const isSmallOrderKey = (k: Uint8Array) => SMALL_ORDER.some((s) => same(s, k));

// ---- the envelope key schedule, restated ------------------------------------------------------

function stanzaSecrets(eph: EncryptionKey, rk: Uint8Array) {
  const okm = hkdf(eph.sharedSecret(rk), concatBytes(eph.publicKey, rk), LABELS.stanza, 48);
  return { tag: okm.subarray(0, 16), wrapKey: okm.subarray(16, 48) };
}
const SECRETS = EPHEMERALS.map((e) => RECIPIENT_KEYS.map((r) => stanzaSecrets(e, r.publicKey)));
const commitmentOf = (ck: Uint8Array) => hkdf(ck, new Uint8Array(0), LABELS.commitment, 32);
const payloadKeyOf = (ck: Uint8Array, headerHash: Uint8Array) => hkdf(ck, headerHash, LABELS.payload, 32);
function chunkNonce(i: number, last: boolean) {
  const n = new Uint8Array(24);
  new DataView(n.buffer).setUint32(19, i);
  n[23] = last ? 1 : 0;
  return n;
}

// ---- messages ------------------------------------------------------------------------------

const address32 = fc.oneof(fc.constantFrom(...USERS.map((u) => u.address)), bytesArb(32, 32));
/** Small, valid message bodies (author filled in per sender). */
const draftArb = fc.record({
  to: fc.array(address32, { maxLength: 3 }),
  cc: fc.array(address32, { maxLength: 2 }),
  subject: textArb(0, W.LIMITS.SUBJECT, 60),
  date: uintArb(0, 0xffffffff),
  parents: fc.array(bytesArb(32, 32), { maxLength: 2 }),
  body: textArb(0, W.LIMITS.PAYLOAD, 200),
  attachments: fc.array(fc.record({ name: textArb(1, 255, 20), type: textArb(1, 127, 20), data: bytesArb(0, 64, 64) }), { maxLength: 2 }),
});
const MESSAGE_SIGNERS: KeyKind[] = ['identity', 'device'];

/** Genuine envelopes to bob (and others), made by sealEnvelope. */
const GENUINE = [
  sealEnvelope({ author: alice.device, draft: { to: [bob.address], cc: [], subject: 'hi', date: NOW, parents: [], body: 'Hello.', attachments: [] }, recipients: [{ address: bob.address, encryptionKey: bob.enc.publicKey }], random: rnd }),
  sealEnvelope({
    author: alice.signer,
    draft: { to: [bob.address], cc: [alice.address], subject: 'été', date: NOW, parents: [fill(32, 1)], body: 'x'.repeat(300), attachments: [{ name: 'a.txt', type: 'text/plain', data: fill(40, 2) }] },
    recipients: [bob, ...OTHERS.map((k) => ({ enc: k }))].map((r) => ({ address: fill(32, 3), encryptionKey: r.enc.publicKey })),
    random: rnd,
  }),
  sealEnvelope({ author: bob.device, draft: { to: [], cc: [], subject: '', date: 0, parents: [], body: '', attachments: [] }, recipients: [{ address: bob.address, encryptionKey: bob.enc.publicKey }, { address: alice.address, encryptionKey: alice.enc.publicKey }], random: rnd }),
];
const GENUINE_BYTES = GENUINE.map((g) => g.envelope);
const open = (bytes: Uint8Array, ctx: object = {}) =>
  attempt(() => `openEnvelope(${hex(bytes.subarray(0, 200))}…)`, () => openEnvelope(bytes, { key: bob.enc, now: NOW, ...ctx }));
const EXPECTED = GENUINE_BYTES.map((g) => openEnvelope(g, { key: bob.enc, now: NOW }));

/** Contexts: plain; the right expected id; a wrong expected id; alice's device key revoked. */
const CONTEXTS = [
  (_b: Uint8Array) => ({}),
  (b: Uint8Array) => ({ expectedId: sha256(b) }),
  (_b: Uint8Array) => ({ expectedId: fill(32, 99) }),
  (_b: Uint8Array) => ({ isRevoked: (k: Uint8Array) => same(k, alice.device.key.publicKey) }),
];

describe('openEnvelope', () => {
  test('genuine envelopes open (fixture check)', () => {
    for (const g of GENUINE_BYTES) expect(open(g).ok).toBe(true);
  });

  test(`arbitrary bytes never open (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc.tuple(fc.uint8Array({ maxLength: 24 }), lengthArb(0, 2048, 2048), fc.integer()).map(([h, n, s]) => concatBytes(h, fill(n, s))),
          // a map with a header binary first
          fc.tuple(fc.uint8Array({ maxLength: 300, size: 'max' }), fc.uint8Array({ maxLength: 400, size: 'max' })).map(([h, p]) =>
            concatBytes(Uint8Array.of(0x82, 0x01, 0xc4, h.length), h, Uint8Array.of(0x02, 0xc5, p.length >> 8, p.length & 0xff), p),
          ),
        ),
        fc.nat(CONTEXTS.length - 1),
        (b, ctx) => {
          check(!open(b, CONTEXTS[ctx]!(b)).ok, () => `openEnvelope opened arbitrary bytes ${hex(b)}`);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test(`mutated genuine envelopes fail, or open to exactly the original (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(fc.nat(GENUINE.length - 1), mutationsArb, fc.nat(), (i, ms, how) => {
        const orig = GENUINE_BYTES[i]!;
        let input: Uint8Array;
        if (how % 2 === 0) input = mutate(orig, ms, GENUINE_BYTES);
        else {
          // Change the header or the payload (or swap in another envelope's) and wrap it canonically again.
          const env = decode(W.Envelope, orig);
          const other = decode(W.Envelope, GENUINE_BYTES[(how >> 3) % GENUINE.length]!);
          const next = [
            { ...env, header: mutate(env.header, ms) },
            { ...env, payload: mutate(env.payload, ms) },
            { ...env, header: other.header },
            { ...env, payload: other.payload },
          ][(how >> 1) % 4]!;
          const r = attempt('encode Envelope', () => encode(W.Envelope, next));
          input = r.ok ? r.value : concatBytes(Uint8Array.of(0x82, 0x01), encodeModel(mBin(next.header)).bytes, Uint8Array.of(0x02), encodeModel(mBin(next.payload)).bytes);
        }
        const r = open(input);
        if (r.ok) {
          const k = GENUINE_BYTES.findIndex((g) => same(g, input));
          check(k >= 0, () => `openEnvelope opened a changed envelope ${hex(input)}`);
          check(deepEqual(r.value, EXPECTED[k]), 'openEnvelope opened a genuine envelope to another message');
        }
      }),
      { numRuns: RUNS },
    );
  });

  test(`plausible envelopes open exactly when sealed to bob, intact and signed by the author (${RUNS} runs)`, () => {
    let opened = 0;
    const arb = fc.record({
      who: fc.nat(USERS.length - 1),
      draft: fc.oneof({ weight: 4, arbitrary: draftArb }, { weight: 1, arbitrary: validArb(W.MessageBody) }),
      wildAuthor: fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: bytesArb(33, 33) }),
      signer: signerChoiceArb(MESSAGE_SIGNERS),
      bodyPs: fewPerturbationsArb,
      bodyForms: fewFormsArb,
      signedPs: fewPerturbationsArb,
      signedForms: fewFormsArb,
      eph: fc.nat(EPHEMERALS.length - 1),
      smallOrderEph: fc.oneof({ weight: 19, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...SMALL_ORDER) }),
      recipients: fc.oneof({ weight: 5, arbitrary: fc.subarray([1, 2, 3]).map((r) => [0, ...r]) }, { weight: 1, arbitrary: fc.subarray([1, 2, 3], { minLength: 1 }) }),
      headerPs: fewPerturbationsArb,
      headerForms: fewFormsArb,
      stanzaTwist: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 3 })),
      version: fc.oneof({ weight: 9, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: uintArb(0, 255) }),
      commitOk: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      chunkFlag: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      envPs: fewPerturbationsArb,
      envForms: fewFormsArb,
      ctx: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.nat(CONTEXTS.length - 1)),
      seed: fc.integer(),
    });
    fc.assert(
      fc.property(arb, (x) => {
        const author = x.wildAuthor ?? USERS[x.who]!.identity.typedKey;
        const choice = x.signer.pick(x.who);
        // header
        const contentKey = fill(32, x.seed);
        const stanzas = x.recipients
          .map((r) => {
            const s = SECRETS[x.eph]![r]!;
            return { tag: s.tag, wrapped: crypto().xchacha20poly1305Seal(s.wrapKey, ZERO_NONCE, contentKey) };
          })
          .sort((a, b) => Buffer.compare(a.tag, b.tag));
        // Stanzas must be in strictly ascending tag order: duplicate one, reverse them, or put bob's first.
        if (x.stanzaTwist === 1) stanzas.push(stanzas[stanzas.length - 1]!);
        else if (x.stanzaTwist === 2) stanzas.reverse();
        else if (x.stanzaTwist === 3) stanzas.sort((a, b) => (same(a.tag, SECRETS[x.eph]![0]!.tag) ? -1 : same(b.tag, SECRETS[x.eph]![0]!.tag) ? 1 : 0));
        const header = { version: x.version, ephemeral: x.smallOrderEph ?? EPHEMERALS[x.eph]!.publicKey, stanzas, commitment: x.commitOk ? commitmentOf(contentKey) : fill(32, x.seed + 1) };
        const h = encodeBody(W.EnvelopeHeader, header, x.headerPs, x.headerForms);
        const headerHash = sha256(h.bytes);
        // the signed message
        const body = encodeBody(W.MessageBody, { ...x.draft, author }, x.bodyPs, x.bodyForms);
        const sig = signAs(choice, LABELS.message, body.bytes, [headerHash]);
        const cert = attachedCert(choice);
        const sm = encodeBody(W.SignedMessage, cert ? { body: body.bytes, sig, cert } : { body: body.bytes, sig }, x.signedPs, x.signedForms);
        // payload and envelope
        const payload = crypto().xchacha20poly1305Seal(payloadKeyOf(contentKey, headerHash), chunkNonce(0, x.chunkFlag), sm.bytes);
        const envModel: M = { t: 'map', v: [[mInt(1), mBin(h.bytes)], [mInt(2), mBin(payload)]] };
        const activeEnv = x.envPs.filter((p) => p.op < 6);
        const env = encodeModel(activeEnv.length ? perturb(envModel, W.Envelope, activeEnv) : envModel, x.envForms);
        const r = open(env.bytes, CONTEXTS[x.ctx]!(env.bytes));
        if (r.ok) {
          opened++;
          const m = r.value;
          const e = decode(W.Envelope, env.bytes);
          check(same(e.header, h.bytes) && same(e.payload, payload), 'opened an envelope that is not the one sealed');
          const hd = decode(W.EnvelopeHeader, e.header);
          check(hd.version === 1 && same(hd.commitment, commitmentOf(contentKey)), 'opened an envelope of another version or with a broken commitment');
          check(same(hd.ephemeral, EPHEMERALS[x.eph]!.publicKey) && hd.stanzas.some((st) => same(st.tag, SECRETS[x.eph]![0]!.tag)), 'opened an envelope without a stanza for bob');
          check(hd.stanzas.every((st, i) => i === 0 || Buffer.compare(hd.stanzas[i - 1]!.tag, st.tag) < 0), 'opened an envelope with unordered stanzas');
          check(x.chunkFlag, 'opened a payload whose only chunk is not marked last');
          const s = decode(W.SignedMessage, sm.bytes);
          check(same(s.body, body.bytes) && same(s.sig, sig), 'opened a message that is not the one signed');
          const mb = decode(W.MessageBody, body.bytes);
          check(deepEqual(m.message, mb), 'opened message differs from the signed body');
          check(authorized(choice, mb.author, MESSAGE_SIGNERS), () => `opened a message not signed by its author: ${JSON.stringify(choice)}`);
          check(same(m.id, sha256(env.bytes)) && same(m.author, addressOfTyped(mb.author)), 'id or author address wrong');
          if (x.ctx === 2) throw new Error('opened an envelope that does not hash to the expected id');
          if (x.ctx === 3) check(!same(m.signedBy.signingKey, alice.device.key.publicKey), 'opened a message signed by a revoked key');
        } else {
          const intact = h.intact && body.intact && sm.intact && activeEnv.length === 0 && !env.widened;
          const ordered = stanzas.every((st, i) => i === 0 || Buffer.compare(stanzas[i - 1]!.tag, st.tag) < 0);
          if (x.smallOrderEph && h.intact && !x.stanzaTwist && x.version === 1 && x.ctx !== 2) {
            check(r.code === 'KEY_SMALL_ORDER' || r.code.startsWith('WIRE_'), () => `small-order ephemeral refused with ${r.code}`);
          }
          const sane = !x.smallOrderEph && intact && ordered && x.version === 1 && x.commitOk && x.chunkFlag && x.recipients.includes(0) && x.ctx <= 1;
          check(!(sane && authorized(choice, author, MESSAGE_SIGNERS)), () => `openEnvelope refused a proper envelope (${r.code}: ${r.error.message})`);
        }
      }),
      { numRuns: RUNS },
    );
    expect(opened).toBeGreaterThan(RUNS * 0.1);
  });
});

// ---- subject hints ---------------------------------------------------------------------------

const hintKey = (eph: EncryptionKey, rk: EncryptionKey) => hkdf(eph.sharedSecret(rk.publicKey), concatBytes(eph.publicKey, rk.publicKey), LABELS.hint, 32);
const HINT_KEYS = EPHEMERALS.map((e) => hintKey(e, bob.enc));
const hintAad = (id: Uint8Array, recipient: Uint8Array) => concatBytes(id, recipient);

type NBody = W.NotificationBody;
const baseBody = (sealed: NBody['sealed'], id: Uint8Array = fill(32, 5), recipient: Uint8Array = bob.address): NBody => {
  const b: NBody = { recipient, sender: alice.identity.typedKey, store: 'https://store.example', id, size: 100, time: NOW, expires: NOW + 3600 };
  if (sealed) b.sealed = sealed;
  return b;
};
const hint = (b: NBody) => attempt(() => `openSubjectHint(${hex(encode(W.NotificationBody, b))})`, () => openSubjectHint(b, bob.enc));

const GENUINE_HINTS = ['', 'hello', 'é'.repeat(60), 'x'.repeat(120)].map((subject, i) => {
  const n = makeNotification({
    sender: alice.device,
    recipient: { address: bob.address, encryptionKey: bob.enc.publicKey },
    store: 'https://store.example',
    id: fill(32, i + 10),
    size: 10,
    time: NOW,
    expires: NOW + 60,
    subjectHint: subject,
    random: rnd,
  });
  return { subject, body: verifyNotification(n, { now: NOW }).body };
});

describe('openSubjectHint', () => {
  test('genuine hints open, a body without one gives undefined (fixture check)', () => {
    for (const g of GENUINE_HINTS) expect(hint(g.body)).toEqual({ ok: true, value: g.subject });
    expect(hint(baseBody(undefined))).toEqual({ ok: true, value: undefined });
  });

  test(`arbitrary sealed hints never open (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        fc.oneof(bytesArb(32, 32), fc.constantFrom(...EPHEMERALS.map((e) => e.publicKey)), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom(...SMALL_ORDER)),
        fc.oneof(bytesArb(16, 180), fc.uint8Array({ minLength: 16, maxLength: 180, size: 'max' })),
        bytesArb(32, 32),
        (ephemeral, box, id) => {
          const r = hint(baseBody({ ephemeral, box }, id));
          check(!r.ok, 'opened an arbitrary box');
          if (isSmallOrderKey(ephemeral)) check(r.code === 'KEY_SMALL_ORDER', () => `small-order ephemeral ${hex(ephemeral)} refused with ${r.ok ? '' : r.code}`);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test(`mutated genuine hints fail, or open to exactly the original (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(fc.nat(GENUINE_HINTS.length - 1), fc.nat(3), mutationsArb, (i, part, ms) => {
        const g = GENUINE_HINTS[i]!;
        const b = structuredClone(g.body);
        const s = b.sealed!;
        // Fields keep their decoded sizes (the body comes from decode); the box may be any size.
        const fit32 = (x: Uint8Array) => concatBytes(x, new Uint8Array(32)).subarray(0, 32);
        if (part === 0) s.ephemeral = fit32(mutate(s.ephemeral, ms));
        else if (part === 1) s.box = mutate(s.box, ms);
        else if (part === 2) b.id = fit32(mutate(b.id, ms));
        else b.recipient = fit32(mutate(b.recipient, ms));
        const r = hint(b);
        if (r.ok) check(deepEqual(b, g.body) && r.value === g.subject, () => `opened a changed hint: ${hex(encode(W.NotificationBody, b))}`);
      }),
      { numRuns: RUNS },
    );
  });

  test(`plausible hints open exactly when the sealed plaintext is a valid SealedHint (${RUNS} runs)`, () => {
    let opened = 0;
    fc.assert(
      fc.property(plausibleArb(W.SealedHint), fc.nat(EPHEMERALS.length - 1), bytesArb(32, 32), fc.nat(9), ({ enc }, e, id, twist) => {
        const box = crypto().xchacha20poly1305Seal(HINT_KEYS[e]!, ZERO_NONCE, enc.bytes, hintAad(id, bob.address));
        // Now and then the hint is lifted into another notification (other id or recipient).
        const b = baseBody({ ephemeral: EPHEMERALS[e]!.publicKey, box }, twist === 0 ? Uint8Array.from(id, (x, j) => (j === 0 ? x ^ 1 : x)) : id, twist === 1 ? alice.address : bob.address);
        const r = hint(b);
        const want = oracleDecode(W.SealedHint, enc.bytes);
        if (twist <= 1) check(!r.ok && r.code === 'DECRYPT_FAILED', 'a hint opened in another notification');
        else if (want.ok) {
          check(r.ok && r.value === want.value.subject, () => `openSubjectHint refused or changed ${hex(enc.bytes)}: ${r.ok ? String(r.value) : r.error.message}`);
          opened++;
        } else check(!r.ok && r.code.startsWith('WIRE_'), () => `openSubjectHint accepted ${hex(enc.bytes)} (${want.why}) or refused it without a WIRE_* code`);
      }),
      { numRuns: RUNS },
    );
    expect(opened).toBeGreaterThan(RUNS * 0.2);
  });
});
