/**
 * Property tests of openKeyFile: arbitrary bytes, mutations of genuine files (plain and
 * sealed at scrypt cost logN 10), and plausible files (genuine or schema-random fields,
 * perturbed, widened), each with the right, a wrong or no passphrase.
 *
 * scrypt is deterministic, so this file memoizes the active backend's scrypt for the
 * duration of its tests: mutations that leave salt and cost alone then cost no KDF run.
 * A mutated file may also claim a cost up to the schema's logN 20 (1 GiB, seconds of
 * CPU, a deliberate limit of the format); such files are opened without a passphrase
 * (still decoded and checked, refused before the KDF) to keep this file fast.
 */
import fc from 'fast-check';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { crypto, seededRandom } from '../src/crypto/index.js';
import { SigningKey, type EncryptionKey } from '../src/identity/index.js';
import { openKeyFile, sealKeyFile } from '../src/protocol/index.js';
import { decode, encode } from '../src/wire/index.js';
import { KeyFile } from '../src/wire/schema.js';
import {
  attempt,
  check,
  concatBytes,
  encodeBody,
  fewFormsArb,
  fewPerturbationsArb,
  fill,
  hex,
  lengthArb,
  mutate,
  mutationsArb,
  RUNS,
  same,
  USERS,
  validArb,
} from './property.lib.test.js';

const rnd = seededRandom('property.keyfile');
const [alice, bob] = [USERS[0]!, USERS[1]!];
/** The most a test call lets scrypt cost (2^12 × 1 KiB = 4 MiB, a few ms). */
const MAX_TEST_LOGN = 12;

// ---- genuine files -----------------------------------------------------------------------

interface Genuine {
  bytes: Uint8Array;
  /** The passphrase it was sealed with (undefined: plain). */
  pass?: string;
  publicKey: Uint8Array;
  secret: Uint8Array;
  signing: boolean;
}
function genuine(key: SigningKey | EncryptionKey, pass?: string): Genuine {
  const bytes = sealKeyFile(key, pass === undefined ? { plain: true } : { passphrase: pass, logN: 10 }, rnd);
  return { bytes, pass, publicKey: key.publicKey, secret: key.exportSecret(), signing: key instanceof SigningKey };
}
const GENUINE: Genuine[] = [
  genuine(alice.identity),
  genuine(bob.enc),
  genuine(alice.identity, 'correct horse'),
  genuine(bob.enc, 'correct horse'),
  genuine(bob.device.key, 'é'), // NFC: 'e\u0301' must open it too
  genuine(alice.enc, '🔑 ∞'),
];
const GENUINE_VALUES = GENUINE.map((g) => decode(KeyFile, g.bytes));

/** Passphrases to try: the right one (or its other normalization form), none, or any string. */
const passArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant<'right'>('right') },
  { weight: 1, arbitrary: fc.constant<'nfd'>('nfd') },
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom('', 'wrong', 'Correct horse', 'correct horse ', '\u0000') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
);
const passFor = (p: string | undefined, g: Genuine | undefined): string | undefined =>
  p === 'right' ? (g?.pass ?? 'correct horse') : p === 'nfd' ? (g?.pass ?? 'é').normalize('NFD') : p;

/** Open, keeping the KDF cost bounded (see the header). */
function openBounded(bytes: Uint8Array, pass: string | undefined) {
  const f = attempt('decode KeyFile', () => decode(KeyFile, bytes));
  const p = f.ok && f.value.logN !== undefined && f.value.logN > MAX_TEST_LOGN ? undefined : pass;
  return attempt(() => `openKeyFile(${hex(bytes)}, ${JSON.stringify(p)})`, () => openKeyFile(bytes, p));
}

/** Independent derivations of the public key (@noble/curves, not the backend src/ uses). */
const publicOf = (secret: Uint8Array, signing: boolean) => (signing ? ed25519.getPublicKey(secret) : x25519.getPublicKey(secret));

/** X25519 clamping (RFC 7748): the secret bits that do not matter. */
function clamp(s: Uint8Array): Uint8Array {
  const c = s.slice();
  c[0]! &= 248;
  c[31]! &= 127;
  c[31]! |= 64;
  return c;
}
/** `input` with its secret replaced by `g`'s, if it is a plain X25519 file whose secret clamps to the same key. */
function unclampedTwin(input: Uint8Array, g: Genuine): Uint8Array {
  const f = attempt('decode KeyFile', () => decode(KeyFile, input));
  if (g.signing || g.pass !== undefined || !f.ok || f.value.protection !== 1 || f.value.keyType !== 2) return input;
  if (!same(clamp(f.value.secret), clamp(g.secret))) return input;
  return encode(KeyFile, { ...f.value, secret: g.secret });
}

// ---- memoized scrypt --------------------------------------------------------------------------

type Backend = { scrypt: (p: Uint8Array, s: Uint8Array, logN: number, len: number) => Uint8Array };
const backend = crypto() as unknown as Backend;
const realScrypt = backend.scrypt;
beforeAll(() => {
  const memo = new Map<string, Uint8Array>();
  backend.scrypt = (p, s, logN, len) => {
    const k = `${hex(p)}/${hex(s)}/${logN}/${len}`;
    let v = memo.get(k);
    if (!v) memo.set(k, (v = realScrypt(p, s, logN, len)));
    return v.slice();
  };
});
afterAll(() => {
  backend.scrypt = realScrypt;
});

describe('openKeyFile', () => {
  test('genuine files open with their passphrase (fixture check)', () => {
    for (const g of GENUINE) {
      const r = openBounded(g.bytes, g.pass);
      expect(r.ok && same(r.value.publicKey, g.publicKey)).toBe(true);
    }
    const r = openBounded(GENUINE[4]!.bytes, 'e\u0301');
    expect(r.ok).toBe(true);
  });

  test(`arbitrary bytes never open (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 48 }),
          fc.tuple(fc.uint8Array({ maxLength: 24 }), lengthArb(0, 272, 272), fc.integer()).map(([h, n, s]) => concatBytes(h, fill(n, s))),
          fc.tuple(fc.integer({ min: 0x85, max: 0x88 }), fc.uint8Array({ maxLength: 272, size: 'max' })).map(([h, r]) => Uint8Array.of(h, 1, 1, ...r)),
        ),
        passArb,
        (b, p) => {
          check(!openBounded(b, passFor(p, undefined)).ok, () => `openKeyFile opened arbitrary bytes ${hex(b)}`);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test(`mutated genuine files fail, or open to exactly the original key (${RUNS} runs)`, () => {
    const all = GENUINE.map((g) => g.bytes);
    fc.assert(
      fc.property(fc.nat(GENUINE.length - 1), mutationsArb, passArb, (i, ms, p) => {
        const input = mutate(GENUINE[i]!.bytes, ms, all);
        const r = openBounded(input, passFor(p, GENUINE[i]));
        if (r.ok) {
          // The only change that may open: the bits X25519 clamps away, in a plain encryption key file.
          const g = GENUINE.find((x) => same(x.bytes, input)) ?? GENUINE.find((x) => same(x.bytes, unclampedTwin(input, x)));
          check(g !== undefined, () => `openKeyFile opened a changed file ${hex(input)}`);
          const secret = r.value.exportSecret();
          check(same(r.value.publicKey, g.publicKey) && (g.signing ? same(secret, g.secret) : same(clamp(secret), clamp(g.secret))), 'openKeyFile opened a genuine file to another key');
        }
      }),
      { numRuns: RUNS },
    );
  });

  test(`plausible files open exactly when well-formed, matching and (if sealed) given the passphrase (${RUNS} runs)`, () => {
    let opened = 0;
    const values = fc.oneof(
      { weight: 3, arbitrary: fc.nat(GENUINE.length - 1).map((i) => ({ i, v: GENUINE_VALUES[i]! as Record<string, unknown>, sane: true })) },
      {
        weight: 2,
        // Genuine files with some fields replaced by any schema-valid value.
        arbitrary: fc.tuple(fc.nat(GENUINE.length - 1), validArb(KeyFile), fc.array(fc.nat(3), { minLength: 8, maxLength: 8 })).map(([i, r, mask]) => {
          const v: Record<string, unknown> = { ...GENUINE_VALUES[i]! };
          KeyFile.fields.forEach((f, j) => {
            if (mask[j] !== 0) return;
            if ((r as Record<string, unknown>)[f.name] === undefined) delete v[f.name];
            else v[f.name] = (r as Record<string, unknown>)[f.name];
          });
          return { i, v, sane: false };
        }),
      },
    );
    fc.assert(
      fc.property(values, fewPerturbationsArb, fewFormsArb, passArb, (x, ps, forms, p) => {
        const body = encodeBody(KeyFile, x.v, ps, forms);
        const g = GENUINE[x.i]!;
        const pass = passFor(p, g);
        const r = openBounded(body.bytes, pass);
        if (r.ok) {
          opened++;
          const f = decode(KeyFile, body.bytes);
          check(f.version === 1 && (f.keyType === 1 || f.keyType === 2), 'opened a file of another version or key type');
          check((r.value instanceof SigningKey) === (f.keyType === 1), 'opened to the wrong kind of key');
          check(same(r.value.publicKey, f.publicKey), 'opened key does not match the file');
          const secret = r.value.exportSecret();
          check(same(publicOf(secret, f.keyType === 1), f.publicKey), 'the secret does not belong to the public key');
          if (f.protection === 1) {
            check(f.salt === undefined && f.nonce === undefined && f.logN === undefined && same(f.secret, secret), 'malformed plain file opened');
          } else {
            check(f.protection === 2 && f.salt && f.nonce && f.logN !== undefined && f.secret.length === 48, 'malformed sealed file opened');
            // Only the genuine sealed fields decrypt, and only under the right passphrase.
            const src = GENUINE_VALUES.find((v) => v.salt && same(v.salt, f.salt!) && same(v.nonce!, f.nonce!) && same(v.secret, f.secret) && v.logN === f.logN);
            const gi = src ? GENUINE_VALUES.indexOf(src) : -1;
            check(gi >= 0 && pass !== undefined && pass.normalize('NFC') === GENUINE[gi]!.pass!.normalize('NFC'), 'a sealed file opened without its passphrase');
          }
        } else if (x.sane && body.intact && (g.pass === undefined || p === 'right' || p === 'nfd')) {
          throw new Error(`openKeyFile refused a genuine file given the right passphrase (${r.code}: ${r.error.message})`);
        }
      }),
      { numRuns: RUNS },
    );
    expect(opened).toBeGreaterThan(RUNS * 0.1);
  });
});

