/**
 * Property tests of the publication decoders: txtToAssertion (DNS TXT records) and
 * decodeBundle (the HTTPS well-known document), chained into verifyAssertion.
 *
 * The base64 oracle is @scure/base's strict RFC 4648 codec (src/ uses Buffer).
 */
import fc from 'fast-check';
import { base64 } from '@scure/base';
import { describe, expect, test } from 'vitest';
import { assertionToTxt, decodeBundle, encodeBundle, makeAssertion, txtToAssertion, verifyAssertion } from '../src/protocol/index.js';
import { encode } from '../src/wire/index.js';
import { AssertionBundle } from '../src/wire/schema.js';
import { NOW } from './helpers.js';
import {
  attempt,
  bytesArb,
  check,
  deepEqual,
  encodeModel,
  oracleDecode,
  fill,
  hex,
  lengthArb,
  mBin,
  mutate,
  mutationsArb,
  perturb,
  perturbationArb,
  RUNS,
  same,
  USERS,
  concatBytes,
  type M,
} from './property.lib.test.js';

const [alice, bob] = [USERS[0]!, USERS[1]!];
const DAY = 86400;

const GENUINE: Uint8Array[] = [
  makeAssertion({ identity: alice.identity, seq: 1, notBefore: NOW - DAY, notAfter: NOW + DAY, content: { type: 'stores', stores: [{ priority: 0, url: 'https://store.example' }] } }),
  makeAssertion({ identity: alice.identity, seq: 2, notBefore: NOW - DAY, notAfter: NOW + DAY, content: { type: 'name', name: 'alice@example.com' } }),
  makeAssertion({
    identity: bob.identity,
    seq: 3,
    notBefore: NOW - DAY,
    notAfter: NOW + DAY,
    content: { type: 'keys', keys: [{ purpose: 2, key: bob.enc.publicKey, notAfter: NOW + DAY }, { purpose: 1, key: bob.device.key.publicKey, notAfter: NOW + DAY }, { purpose: 3, key: bob.delegate.key.publicKey, notAfter: NOW + DAY }] },
  }),
  makeAssertion({ identity: bob.identity, seq: 4, notBefore: 0, notAfter: 0xffffffff, content: { type: 'policy', policy: { powBits: 20, powUnit: 1 << 20, maxSize: 1 << 24 } } }),
];
const isGenuine = (b: Uint8Array) => GENUINE.some((g) => same(g, b));

/** An assertion out of a record or bundle must verify exactly when it is a genuine one (they are not forgeable). */
function chainVerify(b: Uint8Array) {
  const r = attempt(() => `verifyAssertion(${hex(b)})`, () => verifyAssertion(b, { now: NOW }));
  check(r.ok === isGenuine(b), () => `verifyAssertion ${r.ok ? 'accepted' : 'refused'} ${hex(b)}`);
}

// ---- TXT records ---------------------------------------------------------------------------

/** Canonical base64 per spec §2, decided by another codec: decodes strictly and re-encodes to the same text. */
function canonicalBase64(s: string): Uint8Array | null {
  try {
    const b = base64.decode(s);
    return base64.encode(b) === s ? b : null;
  } catch {
    return null;
  }
}

function readTxt(strings: string[]) {
  const joined = strings.join('');
  const r = attempt(() => `txtToAssertion(${JSON.stringify(strings).slice(0, 400)})`, () => txtToAssertion(strings));
  if (!joined.startsWith('kp1:')) {
    check(r.ok && r.value === null, () => `txtToAssertion did not ignore a record that is not keypost's: ${JSON.stringify(joined.slice(0, 80))}`);
    return r;
  }
  const want = canonicalBase64(joined.slice(4));
  if (want) check(r.ok && r.value !== null && same(r.value, want), () => `txtToAssertion refused or changed canonical base64 ${JSON.stringify(joined.slice(0, 120))}`);
  else check(!r.ok && r.code === 'WIRE_MALFORMED', () => `txtToAssertion ${r.ok ? 'accepted' : `refused with ${r.code}`} non-canonical base64 ${JSON.stringify(joined.slice(0, 120))}`);
  return r;
}

/** Split a text into character-strings at arbitrary points (DNS splits anywhere, readers concatenate). */
function splitAt(s: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % (s.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let last = 0;
  for (const c of at) {
    out.push(s.slice(last, c));
    last = c;
  }
  out.push(s.slice(last));
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

describe('txtToAssertion', () => {
  test(`arbitrary strings: ignored, refused with WIRE_MALFORMED, or canonical base64 (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(fc.string({ unit: 'binary', maxLength: 300 }), { maxLength: 4 }),
          fc.array(fc.string({ unit: fc.constantFrom(...B64, '=', '-', '_', ' ', '\n'), maxLength: 255 }), { maxLength: 4 }).map((a) => ['kp1:', ...a]),
          fc.tuple(fc.constantFrom('kp1:', 'KP1:', 'kp1', 'kp2:', ' kp1:'), fc.string({ unit: fc.constantFrom(...B64, '='), maxLength: 400 })).map(([p, s]) => [p + s]),
        ),
        (strings) => {
          readTxt(strings);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test(`mutated genuine records: the same assertion however split, or refused; chained into verifyAssertion (${RUNS} runs)`, () => {
    const texts = GENUINE.map((g) => assertionToTxt(g).join(''));
    const opArb = fc.record({ op: fc.nat(9), at: fc.nat(), c: fc.nat() });
    fc.assert(
      fc.property(fc.nat(GENUINE.length - 1), fc.array(opArb, { maxLength: 3 }), fc.array(fc.nat(), { maxLength: 6 }), (i, ops, cuts) => {
        let s = texts[i]!;
        for (const { op, at, c } of ops) {
          const k = 4 + (at % (s.length - 3));
          const ch = B64[c % 64]!;
          if (op === 0) s = s.slice(0, k) + ch + s.slice(k + 1);
          else if (op === 1) s = s.slice(0, k) + s.slice(k + 1);
          else if (op === 2) s = s.slice(0, k) + ch + s.slice(k);
          else if (op === 3) s = s.replace(/=+$/, '');
          else if (op === 4) s = s + '=';
          else if (op === 5) s = s.slice(0, k) + [' ', '\n', '\t', '\r\n'][c % 4] + s.slice(k);
          else if (op === 6) s = s.replace(/\+/g, '-').replace(/\//g, '_');
          else if (op === 7) s = s.slice(0, k) + (s[k] === s[k]?.toUpperCase() ? s[k]?.toLowerCase() : s[k]?.toUpperCase()) + s.slice(k + 1);
          else if (op === 8) s = s.slice(0, k);
          // 9: resplit only
        }
        const r = readTxt(splitAt(s, cuts));
        if (s === texts[i]) check(r.ok && r.value !== null && same(r.value, GENUINE[i]!), 'a genuine record split differently read differently');
        if (r.ok && r.value) chainVerify(r.value);
      }),
      { numRuns: RUNS },
    );
  });

  test(`plausible base64 (padding, alphabet, whitespace, trailing bits): accepted exactly when canonical (${RUNS} runs)`, () => {
    let accepted = 0;
    fc.assert(
      fc.property(bytesArb(0, 400, 400), fc.nat(12), fc.nat(), fc.array(fc.nat(), { maxLength: 4 }), (bytes, variant, k, cuts) => {
        let s = Buffer.from(bytes).toString('base64');
        const at = s.length ? k % s.length : 0;
        switch (variant) {
          case 1:
            s = s.replace(/=+$/, '');
            break;
          case 2:
            s += '=';
            break;
          case 3:
            s = s.replace(/\+/g, '-').replace(/\//g, '_');
            break;
          case 4:
            s = s.slice(0, at) + '\n' + s.slice(at);
            break;
          case 5: {
            // the last data character with some unused low bits set
            const m = /([A-Za-z0-9+/])(=+)$/.exec(s);
            if (m) s = s.slice(0, m.index) + B64[B64.indexOf(m[1]!) | (m[2]!.length === 1 ? 1 + (k % 3) : 1 + (k % 15))] + m[2];
            break;
          }
          case 6:
            s = s.slice(0, at) + '=' + s.slice(at);
            break;
          case 7:
            s = s.slice(0, at) + s.slice(at + 1);
            break;
          case 8:
            s = s + 'A';
            break;
          default: // canonical, however split
            break;
        }
        const r = readTxt(splitAt('kp1:' + s, cuts));
        if (r.ok && r.value) accepted++;
        if (variant === 0 || variant > 8) check(r.ok && r.value !== null && same(r.value, bytes), 'canonical base64 not read back to its bytes');
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(RUNS * 0.2);
  });
});

// ---- bundles ------------------------------------------------------------------------------------

const genuineListArb = fc.array(fc.nat(GENUINE.length - 1), { minLength: 0, maxLength: 8 }).map((ix) => ix.map((i) => GENUINE[i]!));

/** decodeBundle accepts exactly what the wire oracle accepts, as those assertions; each is then verified. */
function readBundle(b: Uint8Array) {
  const want = oracleDecode(AssertionBundle, b);
  const r = attempt(() => `decodeBundle(${hex(b.subarray(0, 64))}…)`, () => decodeBundle(b));
  check(r.ok === want.ok, () => `decodeBundle ${r.ok ? 'accepted' : 'refused'} ${hex(b.subarray(0, 200))}… (${want.ok ? 'valid' : want.why})`);
  if (!r.ok) check(r.code.startsWith('WIRE_'), () => `decodeBundle refused with ${r.code}`);
  else {
    check(deepEqual(r.value, (want as { value: { assertions: unknown } }).value.assertions), 'decodeBundle gave other assertions');
    check(same(encode(AssertionBundle, { assertions: r.value }), b), () => `decodeBundle accepted a non-canonical bundle ${hex(b)}`);
    r.value.forEach(chainVerify);
  }
  return r;
}

describe('decodeBundle', () => {
  test(`arbitrary bytes: accepted exactly when valid and canonical (${RUNS} runs)`, () => {
    const lim = AssertionBundle.maxSize + 16;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 48 }),
          fc.tuple(fc.uint8Array({ maxLength: 24 }), lengthArb(0, lim, 2048), fc.integer()).map(([h, n, s]) => concatBytes(h, fill(n, s))),
          fc.tuple(fc.nat(8), fc.uint8Array({ maxLength: 600, size: 'max' })).map(([n, r]) => Uint8Array.of(0x81, 0x01, 0x90 | n, ...r)),
        ),
        (b) => {
          readBundle(b);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test(`mutated genuine bundles: accepted exactly when valid and canonical, members verify only if genuine (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(genuineListArb, genuineListArb, mutationsArb, (a, b, ms) => {
        readBundle(mutate(encodeBundle(a), ms, [encodeBundle(b), ...GENUINE]));
      }),
      { numRuns: RUNS },
    );
  });

  test(`plausible bundles: accepted exactly when valid and canonical, members chained into verifyAssertion (${RUNS} runs)`, () => {
    let accepted = 0;
    const item = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...GENUINE).map(mBin) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...GENUINE), mutationsArb).map(([g, ms]) => mBin(mutate(g, ms))) },
      { weight: 1, arbitrary: bytesArb(0, 4100, 4100).map(mBin) },
    );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 9 }), fc.array(perturbationArb, { maxLength: 2 }), (items, ps) => {
        const m0: M = { t: 'map', v: [[{ t: 'int', v: 1 }, { t: 'arr', v: items }]] };
        const m = perturb(m0, AssertionBundle, ps);
        if (readBundle(encodeModel(m).bytes).ok) accepted++;
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(RUNS * 0.2);
  });
});
