/**
 * Where assertions are published: DNS TXT records (owner names in the manner of
 * RFC 7929) and HTTPS well-known paths. Pure formatting; discovery/ does the I/O.
 */
import { KeypostError } from '../errors.js';
import { fromBase64, toBase64, toHex, utf8 } from '../bytes/index.js';
import { crypto } from '../crypto/index.js';
import { addressToText } from '../identity/index.js';
import { decode, encode } from '../wire/index.js';
import { AssertionBundle } from '../wire/schema.js';
import { parseLegacyName } from './assertions.js';

export const TXT_PREFIX = 'kp1:';
export const TXT_STRING_MAX = 255;
export const DNS_LABEL = '_keypost';
export const WELL_KNOWN = '/.well-known/keypost';

/** One assertion as the character-strings of one TXT record (each ≤ 255 bytes). */
export function assertionToTxt(assertion: Uint8Array): string[] {
  const s = TXT_PREFIX + toBase64(assertion);
  const out: string[] = [];
  for (let i = 0; i < s.length; i += TXT_STRING_MAX) out.push(s.slice(i, i + TXT_STRING_MAX));
  return out;
}

/** The assertion bytes of one TXT record, or null for a TXT record that is not keypost's. */
export function txtToAssertion(strings: readonly string[]): Uint8Array | null {
  const s = strings.join('');
  if (!s.startsWith(TXT_PREFIX)) return null;
  try {
    return fromBase64(s.slice(TXT_PREFIX.length));
  } catch {
    throw new KeypostError('WIRE_MALFORMED', 'TXT record is not valid base64');
  }
}

/** `<address>._keypost.<zone>`: assertions about an address, in a zone its store or owner controls. */
export function addressOwnerName(address: Uint8Array, zone: string): string {
  return `${addressToText(address)}.${DNS_LABEL}.${zone.replace(/\.$/, '')}`;
}

/** `<hex(sha256(local))[:56]>._keypost.<domain>`: the key behind a legacy name, as RFC 7929 does. */
export function nameOwnerName(name: string): string {
  const { local, domain } = parseLegacyName(name);
  return `${localPartHash(local)}.${DNS_LABEL}.${domain}`;
}

export const localPartHash = (local: string): string => toHex(crypto().sha256(utf8(local)).subarray(0, 28));

/** HTTPS paths on a store: by address, and by legacy name on the name's domain. */
export const addressPath = (address: Uint8Array): string => `${WELL_KNOWN}/${addressToText(address)}`;
export const namePath = (name: string): string => `${WELL_KNOWN}/name/${localPartHash(parseLegacyName(name).local)}`;

export const encodeBundle = (assertions: Uint8Array[]): Uint8Array => encode(AssertionBundle, { assertions });
export const decodeBundle = (bytes: Uint8Array): Uint8Array[] => decode(AssertionBundle, bytes).assertions;
