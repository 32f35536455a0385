/**
 * Addresses: SHA-256 over a label and the typed public key. The text form is bech32m
 * with prefix "kp": 61 lowercase characters (one DNS label), and a BCH checksum that
 * detects any error in up to 4 characters, so a mistyped address is refused rather
 * than delivered to somebody else.
 */
import { bech32m } from '@scure/base';
import { crypto } from '../crypto/index.js';
import { KeypostError } from '../errors.js';
import { concat, utf8 } from '../bytes/index.js';
import { parseTypedKey } from './keys.js';

export const ADDRESS_LABEL = 'keypost/v1/address';
export const ADDRESS_PREFIX = 'kp';
export const ADDRESS_TEXT_LENGTH = 61;

const LABEL_BYTES = concat(utf8(ADDRESS_LABEL), Uint8Array.of(0));
const BECH32_ALPHABET = /^[qpzry9x8gf2tvdw0s3jn54khce6mua7l]+$/;

/** The address of a typed key. Validates the key: an address of an unusable key is useless. */
export function addressOf(typed: Uint8Array): Uint8Array {
  parseTypedKey(typed);
  return addressOfUnchecked(typed);
}

/**
 * The address without validating the key (one hash). For verifiers that must decide
 * cheaply (proof of work, blocklists) before paying for the key check, which they then
 * still make before trusting any signature.
 */
export const addressOfUnchecked = (typed: Uint8Array): Uint8Array => crypto().sha256(concat(LABEL_BYTES, typed));

export function addressToText(address: Uint8Array): string {
  if (address.length !== 32) throw new KeypostError('INVALID_ARGUMENT', 'address must be 32 bytes');
  return bech32m.encode(ADDRESS_PREFIX, bech32m.toWords(address));
}

/** Parse an address text in any letter case. */
export function addressFromText(text: string): Uint8Array {
  if (typeof text !== 'string' || text.length !== ADDRESS_TEXT_LENGTH) {
    throw new KeypostError('ADDRESS_MALFORMED', `an address has ${ADDRESS_TEXT_LENGTH} characters`);
  }
  // ASCII letters only: String.prototype.toLowerCase would also map U+212A KELVIN SIGN to 'k'.
  const s = text.replace(/[A-Z]/g, (c) => c.toLowerCase());
  if (!s.startsWith(ADDRESS_PREFIX + '1')) throw new KeypostError('ADDRESS_MALFORMED', `an address starts with "${ADDRESS_PREFIX}1"`);
  if (!BECH32_ALPHABET.test(s.slice(3))) throw new KeypostError('ADDRESS_MALFORMED', 'character outside the bech32 alphabet');
  let words: number[];
  try {
    words = bech32m.decode(s as `${string}1${string}`).words;
  } catch {
    throw new KeypostError('ADDRESS_CHECKSUM', 'checksum does not match: check the address for a typo');
  }
  const bytes = bech32m.fromWordsUnsafe(words);
  if (!bytes || bytes.length !== 32) throw new KeypostError('ADDRESS_MALFORMED', 'address does not encode 32 bytes');
  return bytes;
}
