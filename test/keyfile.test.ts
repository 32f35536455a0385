/** Private key files: format (protocol/keyfile.ts) and files on disk (client/keystore.ts). */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { backends, seededRandom } from '../src/crypto/index.js';
import { EncryptionKey, SigningKey } from '../src/identity/index.js';
import { openKeyFile, sealKeyFile, KEYFILE_VERSION, DEFAULT_LOGN, MIN_LOGN, type SecretKey } from '../src/protocol/keyfile.js';
import { readKeyFile, writeKeyFile } from '../src/client/keystore.js';
import { decode, encode } from '../src/wire/index.js';
import { KeyFile } from '../src/wire/schema.js';
import { toHex } from '../src/bytes/index.js';
import { codeOf } from './helpers.js';

const rnd = seededRandom('keyfile-test');
const sk = SigningKey.generate(rnd);
const ek = EncryptionKey.generate(rnd);
const FAST = { passphrase: 'correct horse battery staple', logN: 10 };

const same = (a: SecretKey, b: SecretKey) => {
  expect(a.constructor).toBe(b.constructor);
  expect(toHex(a.publicKey)).toBe(toHex(b.publicKey));
  expect(toHex(a.exportSecret())).toBe(toHex(b.exportSecret()));
};

/** Decode, change, re-encode canonically. */
const tamper = (file: Uint8Array, f: (k: KeyFile) => void): Uint8Array => {
  const k = decode(KeyFile, file);
  f(k);
  return encode(KeyFile, k);
};
const flip = (b: Uint8Array, i = 0) => {
  const c = b.slice();
  c[i]! ^= 1;
  return c;
};

describe('key file format', () => {
  const sealedS = sealKeyFile(sk, FAST, rnd);
  const sealedE = sealKeyFile(ek, FAST, rnd);
  const plainS = sealKeyFile(sk, { plain: true }, rnd);
  const plainE = sealKeyFile(ek, { plain: true }, rnd);

  test('passphrase round trip for both key types', () => {
    same(openKeyFile(sealedS, FAST.passphrase), sk);
    same(openKeyFile(sealedE, FAST.passphrase), ek);
    const f = decode(KeyFile, sealedS);
    expect(f).toMatchObject({ version: KEYFILE_VERSION, keyType: 1, protection: 2, logN: 10 });
    expect(f.secret.length).toBe(48);
    expect(f.salt!.length).toBe(16);
    expect(f.nonce!.length).toBe(24);
    expect(decode(KeyFile, sealedE).keyType).toBe(2);
    // The secret is not in the file in clear.
    expect(toHex(sealedS).includes(toHex(sk.exportSecret()))).toBe(false);
    expect(toHex(sealedE).includes(toHex(ek.exportSecret()))).toBe(false);
  });

  test('the passphrase is NFC-normalised: composed and decomposed spellings open the same file', () => {
    const f = sealKeyFile(sk, { passphrase: 'caf\u00e9', logN: 10 }, rnd);
    same(openKeyFile(f, 'cafe\u0301'), sk);
    same(openKeyFile(f, 'caf\u00e9'), sk);
  });

  test('default cost is logN 17; outside 10..20 is refused before scrypt runs, and by the format', () => {
    expect(DEFAULT_LOGN).toBe(17);
    expect(MIN_LOGN).toBe(10);
    const scrypt = vi.spyOn(backends.node, 'scrypt');
    for (const logN of [9, 21, 40, 10.5]) expect(codeOf(() => sealKeyFile(sk, { passphrase: 'x', logN }, rnd)), String(logN)).toBe('INVALID_ARGUMENT');
    expect(scrypt).not.toHaveBeenCalled();
    scrypt.mockRestore();
    expect(codeOf(() => openKeyFile(tamper(sealedS, (k) => (k.logN = 9)), FAST.passphrase))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => openKeyFile(tamper(sealedS, (k) => (k.logN = 21)), FAST.passphrase))).toBe('WIRE_BAD_TYPE');
  });

  test('wrong or missing passphrase is KEYFILE_PASSPHRASE', () => {
    expect(codeOf(() => openKeyFile(sealedS, 'wrong'))).toBe('KEYFILE_PASSPHRASE');
    expect(codeOf(() => openKeyFile(sealedE, FAST.passphrase + ' '))).toBe('KEYFILE_PASSPHRASE');
    expect(codeOf(() => openKeyFile(sealedS, ''))).toBe('KEYFILE_PASSPHRASE');
    expect(codeOf(() => openKeyFile(sealedS))).toBe('KEYFILE_PASSPHRASE');
    expect(codeOf(() => openKeyFile(sealedE, undefined))).toBe('KEYFILE_PASSPHRASE');
  });

  test('an empty passphrase is refused unless the key is explicitly plain', () => {
    expect(codeOf(() => sealKeyFile(sk, { passphrase: '' }, rnd))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => sealKeyFile(ek, { passphrase: '', logN: 10 }, rnd))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => sealKeyFile(sk, { passphrase: undefined } as never, rnd))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => sealKeyFile(sk, { plain: false } as never, rnd))).toBe('INVALID_ARGUMENT');
  });

  test('plain round trip for both key types; the passphrase is ignored', () => {
    same(openKeyFile(plainS), sk);
    same(openKeyFile(plainE), ek);
    same(openKeyFile(plainS, 'anything'), sk);
    const f = decode(KeyFile, plainS);
    expect(f).toMatchObject({ version: 1, keyType: 1, protection: 1 });
    expect(toHex(f.secret)).toBe(toHex(sk.exportSecret()));
    expect(f.salt).toBeUndefined();
  });

  test('sealed: tampering with the secret, public key, salt, nonce or cost is KEYFILE_PASSPHRASE', () => {
    for (const file of [sealedS, sealedE]) {
      expect(codeOf(() => openKeyFile(tamper(file, (k) => (k.secret = flip(k.secret))), FAST.passphrase))).toBe('KEYFILE_PASSPHRASE');
      expect(codeOf(() => openKeyFile(tamper(file, (k) => (k.secret = flip(k.secret, 47))), FAST.passphrase))).toBe('KEYFILE_PASSPHRASE');
      // The public key is the associated data: changing it breaks authentication.
      expect(codeOf(() => openKeyFile(tamper(file, (k) => (k.publicKey = flip(k.publicKey))), FAST.passphrase))).toBe('KEYFILE_PASSPHRASE');
      expect(codeOf(() => openKeyFile(tamper(file, (k) => (k.salt = flip(k.salt!))), FAST.passphrase))).toBe('KEYFILE_PASSPHRASE');
      expect(codeOf(() => openKeyFile(tamper(file, (k) => (k.nonce = flip(k.nonce!))), FAST.passphrase))).toBe('KEYFILE_PASSPHRASE');
      expect(codeOf(() => openKeyFile(tamper(file, (k) => (k.logN = 11)), FAST.passphrase))).toBe('KEYFILE_PASSPHRASE');
    }
  });

  test('sealed: swapping the key type decrypts but the public key does not match: KEY_INVALID', () => {
    expect(codeOf(() => openKeyFile(tamper(sealedS, (k) => (k.keyType = 2)), FAST.passphrase))).toBe('KEY_INVALID');
    expect(codeOf(() => openKeyFile(tamper(sealedE, (k) => (k.keyType = 1)), FAST.passphrase))).toBe('KEY_INVALID');
  });

  test('plain: tampering with the secret or the public key is KEY_INVALID', () => {
    for (const file of [plainS, plainE]) {
      expect(codeOf(() => openKeyFile(tamper(file, (k) => (k.secret = flip(k.secret, 5))))), 'secret').toBe('KEY_INVALID');
      expect(codeOf(() => openKeyFile(tamper(file, (k) => (k.publicKey = flip(k.publicKey, 7))))), 'public').toBe('KEY_INVALID');
    }
    expect(codeOf(() => openKeyFile(tamper(plainS, (k) => (k.keyType = 2))))).toBe('KEY_INVALID');
    expect(codeOf(() => openKeyFile(tamper(plainE, (k) => (k.keyType = 1))))).toBe('KEY_INVALID');
  });

  test('inconsistent files are WIRE_BAD_TYPE, other versions WIRE_BAD_VERSION', () => {
    expect(codeOf(() => openKeyFile(tamper(plainS, (k) => (k.salt = new Uint8Array(16)))))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => openKeyFile(tamper(plainS, (k) => (k.logN = 10))))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => openKeyFile(tamper(plainS, (k) => (k.secret = new Uint8Array(48)))))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => openKeyFile(tamper(sealedS, (k) => delete k.salt), FAST.passphrase))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => openKeyFile(tamper(sealedS, (k) => delete k.nonce), FAST.passphrase))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => openKeyFile(tamper(sealedS, (k) => (k.protection = 1)), FAST.passphrase))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => openKeyFile(tamper(sealedS, (k) => (k.protection = 3)), FAST.passphrase))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => openKeyFile(tamper(plainS, (k) => (k.keyType = 3))))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => openKeyFile(tamper(plainS, (k) => (k.version = 2))))).toBe('WIRE_BAD_VERSION');
    expect(codeOf(() => openKeyFile(plainS.subarray(0, plainS.length - 1)))).toBe('WIRE_MALFORMED');
  });

  test('salts and nonces are fresh for every file', () => {
    const a = decode(KeyFile, sealKeyFile(sk, FAST, rnd));
    const b = decode(KeyFile, sealKeyFile(sk, FAST, rnd));
    expect(toHex(a.salt!)).not.toBe(toHex(b.salt!));
    expect(toHex(a.nonce!)).not.toBe(toHex(b.nonce!));
    expect(toHex(a.secret)).not.toBe(toHex(b.secret));
  });
});

describe('key files on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keypost-keyfile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('writeKeyFile creates mode 0600 even under umask 000, and leaves no temp file', () => {
    const old = process.umask(0o000);
    try {
      const p = join(dir, 'id.key');
      writeKeyFile(p, sk, { plain: true });
      expect(statSync(p).mode & 0o777).toBe(0o600);
      same(readKeyFile(p), sk);
      // Sanity: the umask really was 000 (a plain write gets 0666).
      writeFileSync(join(dir, 'probe'), 'x', { mode: 0o666 });
      expect(statSync(join(dir, 'probe')).mode & 0o777).toBe(0o666);
      const q = join(dir, 'enc.key');
      writeKeyFile(q, ek, FAST);
      expect(statSync(q).mode & 0o777).toBe(0o600);
      same(readKeyFile(q, FAST.passphrase), ek);
      expect(codeOf(() => readKeyFile(q, 'nope'))).toBe('KEYFILE_PASSPHRASE');
      expect(codeOf(() => readKeyFile(q))).toBe('KEYFILE_PASSPHRASE');
      expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    } finally {
      process.umask(old);
    }
  });

  test('readKeyFile refuses files readable by group or others with KEYFILE_PERMISSIONS', () => {
    const p = join(dir, 'perm.key');
    writeKeyFile(p, sk, { plain: true });
    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o606, 0o610, 0o601, 0o677]) {
      chmodSync(p, mode);
      expect(codeOf(() => readKeyFile(p)), mode.toString(8)).toBe('KEYFILE_PERMISSIONS');
    }
    for (const mode of [0o600, 0o400, 0o700]) {
      chmodSync(p, mode);
      same(readKeyFile(p), sk);
    }
  });

  test('the permission check comes before the passphrase check', () => {
    const p = join(dir, 'perm2.key');
    writeKeyFile(p, sk, FAST);
    chmodSync(p, 0o644);
    expect(codeOf(() => readKeyFile(p, 'wrong'))).toBe('KEYFILE_PERMISSIONS');
  });

  test('a corrupt file on disk is a typed error', () => {
    const p = join(dir, 'corrupt.key');
    writeFileSync(p, Buffer.from([0xc1, 0xc1]), { mode: 0o600 });
    expect(codeOf(() => readKeyFile(p))).toMatch(/^WIRE_/);
  });

  test('writeKeyFile never overwrites an existing key file (KEYFILE_EXISTS) and leaves no temp file', () => {
    const p = join(dir, 'replace.key');
    writeKeyFile(p, sk, { plain: true });
    expect(codeOf(() => writeKeyFile(p, ek, { plain: true }))).toBe('KEYFILE_EXISTS');
    same(readKeyFile(p), sk);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.startsWith('replace.key.'))).toEqual([]);
  });

  test('a leftover temp file from a crashed write is neither followed nor clobbered', () => {
    const p = join(dir, 'leftover.key');
    const tmp = `${p}.${process.pid}.tmp`;
    writeFileSync(tmp, 'leftover', { mode: 0o644 });
    writeKeyFile(p, sk, { plain: true });
    same(readKeyFile(p), sk);
    expect(readFileSync(tmp, 'utf8')).toBe('leftover');
  });
});
