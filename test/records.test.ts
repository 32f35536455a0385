/** Publishing formats: DNS TXT records, owner names, HTTPS paths, bundles. */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { seededRandom } from '../src/crypto/index.js';
import { addressFromText, addressToText } from '../src/identity/index.js';
import {
  addressOwnerName,
  addressPath,
  assertionToTxt,
  decodeBundle,
  DNS_LABEL,
  encodeBundle,
  localPartHash,
  makeAssertion,
  nameOwnerName,
  namePath,
  TXT_PREFIX,
  TXT_STRING_MAX,
  txtToAssertion,
  verifyAssertion,
  WELL_KNOWN,
} from '../src/protocol/index.js';
import { toBase64, toHex } from '../src/bytes/index.js';
import { codeOf, makeUser, NOW } from './helpers.js';

const rnd = seededRandom('records-test');
const alice = makeUser('alice');

const sha56 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex').slice(0, 56);

describe('TXT records', () => {
  test('chunked into ≤ 255-character strings (all full but the last) and back, for many sizes', () => {
    for (const n of [1, 2, 3, 100, 188, 189, 190, 191, 192, 380, 381, 382, 383, 1000, 3000, 4096]) {
      const a = rnd(n);
      const strings = assertionToTxt(a);
      const joined = strings.join('');
      expect(joined).toBe(TXT_PREFIX + toBase64(a));
      for (const s of strings) {
        expect(s.length).toBeGreaterThan(0);
        expect(Buffer.byteLength(s)).toBeLessThanOrEqual(TXT_STRING_MAX);
        expect(s).toMatch(/^[\x21-\x7e]+$/); // printable ASCII, no spaces or quotes to escape badly
      }
      for (const s of strings.slice(0, -1)) expect(s.length).toBe(255);
      expect(strings.length).toBe(Math.ceil(joined.length / 255));
      expect(toHex(txtToAssertion(strings)!)).toBe(toHex(a));
      // A resolver may receive the same text split differently.
      const resplit = joined.match(/.{1,37}/g)!;
      expect(toHex(txtToAssertion(resplit)!)).toBe(toHex(a));
    }
    expect(TXT_STRING_MAX).toBe(255);
    expect(TXT_PREFIX).toBe('kp1:');
  });

  test('a real assertion survives the trip through TXT and verifies', () => {
    const a = makeAssertion({
      identity: alice.identity,
      seq: 1,
      notBefore: NOW,
      notAfter: NOW + 86400,
      content: { type: 'stores', stores: [{ priority: 10, url: 'https://a.example' }] },
    });
    const back = txtToAssertion(assertionToTxt(a))!;
    expect(verifyAssertion(back, { now: NOW, address: alice.address, type: 'stores' }).seq).toBe(1);
  });

  test('TXT records that are not keypost’s are null', () => {
    expect(txtToAssertion(['v=spf1 -all'])).toBeNull();
    expect(txtToAssertion(['google-site-verification=abc'])).toBeNull();
    expect(txtToAssertion([])).toBeNull();
    expect(txtToAssertion([''])).toBeNull();
    expect(txtToAssertion(['KP1:AAAA'])).toBeNull();
    expect(txtToAssertion(['kp2:AAAA'])).toBeNull();
    expect(txtToAssertion([' kp1:AAAA'])).toBeNull();
  });

  test('invalid base64 after the prefix is WIRE_MALFORMED', () => {
    for (const bad of ['kp1:@@@@', 'kp1:AAA', 'kp1:AA=', 'kp1:QR==' /* non-zero padding bits */, 'kp1:AAAA AAAA', 'kp1:AA-_', 'kp1:AAAA=', 'kp1:A']) {
      expect(codeOf(() => txtToAssertion([bad])), bad).toBe('WIRE_MALFORMED');
    }
    // Split across strings, still checked as a whole.
    expect(codeOf(() => txtToAssertion(['kp1:AA', 'A']))).toBe('WIRE_MALFORMED');
    expect(toHex(txtToAssertion(['kp1:AA', 'AA'])!)).toBe('000000');
  });

  test('an empty payload after the prefix decodes to nothing, which no verifier accepts', () => {
    const empty = txtToAssertion(['kp1:'])!;
    expect(empty.length).toBe(0);
    expect(codeOf(() => verifyAssertion(empty, { now: NOW }))).toBe('WIRE_MALFORMED');
  });
});

describe('owner names and paths', () => {
  const addr = alice.address;
  const text = addressToText(addr);

  test('address owner name: <address>._keypost.<zone>', () => {
    expect(DNS_LABEL).toBe('_keypost');
    expect(addressOwnerName(addr, 'example.com')).toBe(`${text}._keypost.example.com`);
    expect(addressOwnerName(addr, 'example.com.')).toBe(`${text}._keypost.example.com`);
    const first = addressOwnerName(addr, 'example.com').split('.')[0]!;
    expect(first.length).toBeLessThanOrEqual(63);
    expect(toHex(addressFromText(first))).toBe(toHex(addr));
  });

  test('name owner name: first 28 bytes of SHA-256(local part) in hex, as RFC 7929', () => {
    expect(localPartHash('alice')).toBe(sha56('alice'));
    expect(localPartHash('alice').length).toBe(56);
    expect(localPartHash('alice')).toMatch(/^[0-9a-f]{56}$/);
    expect(nameOwnerName('alice@example.com')).toBe(`${sha56('alice')}._keypost.example.com`);
    expect(nameOwnerName('first.last+tag@mail.example.org')).toBe(`${sha56('first.last+tag')}._keypost.mail.example.org`);
    // The domain is not hashed, the local part is.
    expect(nameOwnerName('bob@example.com').split('.')[0]).toBe(sha56('bob'));
    expect(nameOwnerName('bob@example.com').split('.')[0]).not.toBe(sha56('bob@example.com'));
  });

  test('RFC 7929 example: the hash of "hugh"', () => {
    // RFC 7929 section 3: hugh@example.com -> c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6._openpgpkey.example.com
    expect(localPartHash('hugh')).toBe('c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6');
  });

  test('invalid names are refused (WIRE_BAD_TYPE), including upper case', () => {
    for (const n of ['Alice@example.com', 'alice', 'alice@example', '@example.com']) {
      expect(codeOf(() => nameOwnerName(n)), n).toBe('WIRE_BAD_TYPE');
      expect(codeOf(() => namePath(n)), n).toBe('WIRE_BAD_TYPE');
    }
  });

  test('HTTPS well-known paths', () => {
    expect(WELL_KNOWN).toBe('/.well-known/keypost');
    expect(addressPath(addr)).toBe(`/.well-known/keypost/${text}`);
    expect(namePath('alice@example.com')).toBe(`/.well-known/keypost/name/${sha56('alice')}`);
    expect(codeOf(() => addressPath(new Uint8Array(31)))).toBe('INVALID_ARGUMENT');
  });
});

describe('assertion bundles', () => {
  test('round trip of up to 8 assertions, more is WIRE_TOO_LARGE', () => {
    const items = Array.from({ length: 8 }, (_, i) => rnd(10 + i));
    const b = encodeBundle(items);
    expect(decodeBundle(b).map(toHex)).toEqual(items.map(toHex));
    expect(decodeBundle(encodeBundle([])).length).toBe(0);
    expect(codeOf(() => encodeBundle([...items, rnd(5)]))).toBe('WIRE_TOO_LARGE');
    expect(codeOf(() => encodeBundle([new Uint8Array(0)]))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => decodeBundle(b.subarray(0, b.length - 1)))).toBe('WIRE_MALFORMED');
  });
});
