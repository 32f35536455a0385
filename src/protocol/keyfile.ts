/**
 * The private key file format. A key is either sealed under a passphrase (scrypt, then
 * XChaCha20-Poly1305 with the public key as associated data) or explicitly marked plain
 * for servers that must start unattended. Opening checks the secret against the stored
 * public key, so a corrupted file is refused rather than used.
 */
import { KeypostError } from '../errors.js';
import { utf8 } from '../bytes/index.js';
import { crypto, type RandomSource } from '../crypto/index.js';
import { EncryptionKey, SigningKey } from '../identity/index.js';
import { decode, encode } from '../wire/index.js';
import { KeyFile } from '../wire/schema.js';
import { labelled, LABELS } from './labels.js';

export const KEYFILE_VERSION = 1;
/** scrypt cost: 2^17 × 128 × 8 bytes = 128 MiB and about half a second here. */
export const DEFAULT_LOGN = 17;
export const MIN_LOGN = 10;
/** The format's ceiling (1 GiB of scrypt memory); KeyFile's schema enforces it on read. */
export const MAX_LOGN = 20;

export type SecretKey = SigningKey | EncryptionKey;
export type Protection = { passphrase: string; logN?: number } | { plain: true };

const passKey = (passphrase: string, salt: Uint8Array, logN: number) => crypto().scrypt(utf8(passphrase.normalize('NFC')), salt, logN, 32);

export function sealKeyFile(key: SecretKey, protection: Protection, random: RandomSource): Uint8Array {
  const keyType = key instanceof SigningKey ? 1 : 2;
  const base = { version: KEYFILE_VERSION, keyType, publicKey: key.publicKey };
  if ('plain' in protection) {
    if (protection.plain !== true) throw new KeypostError('INVALID_ARGUMENT', 'plain must be true');
    return encode(KeyFile, { ...base, protection: 1, secret: key.exportSecret() });
  }
  if (typeof protection.passphrase !== 'string' || protection.passphrase.length === 0) {
    throw new KeypostError('INVALID_ARGUMENT', 'empty passphrase: use { plain: true } to store a key unencrypted');
  }
  const logN = protection.logN ?? DEFAULT_LOGN;
  // Checked before scrypt runs: a huge logN would allocate gigabytes first and fail after.
  if (!Number.isInteger(logN) || logN < MIN_LOGN || logN > MAX_LOGN) throw new KeypostError('INVALID_ARGUMENT', `logN must be ${MIN_LOGN}..${MAX_LOGN}`);
  const salt = random(16);
  const nonce = random(24);
  const k = passKey(protection.passphrase, salt, logN);
  const secret = crypto().xchacha20poly1305Seal(k, nonce, key.exportSecret(), labelled(LABELS.keyfile, base.publicKey));
  return encode(KeyFile, { ...base, protection: 2, secret, salt, logN, nonce });
}

export function openKeyFile(bytes: Uint8Array, passphrase?: string): SecretKey {
  const f = decode(KeyFile, bytes);
  if (f.version !== KEYFILE_VERSION) throw new KeypostError('WIRE_BAD_VERSION', `key file version ${f.version}`);
  let secret: Uint8Array;
  if (f.protection === 1) {
    if (f.secret.length !== 32 || f.salt || f.nonce || f.logN !== undefined) throw new KeypostError('WIRE_BAD_TYPE', 'plain key file');
    secret = f.secret;
  } else if (f.protection === 2) {
    if (f.secret.length !== 48 || !f.salt || !f.nonce || f.logN === undefined) throw new KeypostError('WIRE_BAD_TYPE', 'sealed key file');
    if (passphrase === undefined) throw new KeypostError('KEYFILE_PASSPHRASE', 'this key file needs a passphrase');
    const pt = crypto().xchacha20poly1305Open(passKey(passphrase, f.salt, f.logN), f.nonce, f.secret, labelled(LABELS.keyfile, f.publicKey));
    if (!pt) throw new KeypostError('KEYFILE_PASSPHRASE', 'wrong passphrase or damaged file');
    secret = pt;
  } else {
    throw new KeypostError('WIRE_BAD_TYPE', `protection ${f.protection}`);
  }
  let key: SecretKey;
  if (f.keyType === 1) key = SigningKey.fromSeed(secret);
  else if (f.keyType === 2) key = EncryptionKey.fromSecret(secret);
  else throw new KeypostError('WIRE_BAD_TYPE', `key type ${f.keyType}`);
  if (Buffer.compare(key.publicKey, f.publicKey) !== 0) throw new KeypostError('KEY_INVALID', 'secret does not match the public key in the file');
  return key;
}
