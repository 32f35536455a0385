/** Publishing helpers (pure): zone lines and well-known answers, and the mistakes they refuse. */
import { describe, expect, test } from 'vitest';
import { equal, toHex } from '../src/bytes/index.js';
import { nameZoneRecords, peekAssertion, txtRecordLine, wellKnownResponse, zoneRecords } from '../src/discovery/index.js';
import { addressOwnerName, decodeBundle, nameOwnerName, txtToAssertion } from '../src/protocol/index.js';
import { assertion, keysOf, nameOf, storesOf } from './dns/fixtures.js';
import { codeOf, makeUser, NOW } from './helpers.js';

const alice = makeUser('pub-alice');
const bob = makeUser('pub-bob');

/** The character-strings of a master-file TXT line, unquoted. */
const stringsOf = (line: string) => [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));

describe('zone records', () => {
  test('one line per assertion at the address owner name; the strings give back the exact bytes', () => {
    const as = [assertion(alice, storesOf([10, 'https://s.example.test'])), assertion(alice, keysOf(alice, 20))];
    const lines = zoneRecords(as, alice.address, 'Example.Test.'.toLowerCase(), 600);
    expect(lines).toHaveLength(2);
    lines.forEach((line, i) => {
      expect(line.startsWith(`${addressOwnerName(alice.address, 'example.test')}. 600 IN TXT "kp1:`)).toBe(true);
      const strings = stringsOf(line);
      expect(strings.every((s) => s.length >= 1 && s.length <= 255)).toBe(true);
      expect(equal(txtToAssertion(strings)!, as[i]!)).toBe(true);
    });
    expect(stringsOf(lines[1]!).length).toBeGreaterThan(2);
  });

  test('an assertion about another address, garbage, nothing, a bad TTL: INVALID_ARGUMENT', () => {
    expect(codeOf(() => zoneRecords([assertion(bob, storesOf([10, 'https://s.example.test']))], alice.address, 'example.test'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => zoneRecords([new Uint8Array([1, 2, 3])], alice.address, 'example.test'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => zoneRecords([], alice.address, 'example.test'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => zoneRecords([assertion(alice, nameOf('a@example.test'))], alice.address, 'example.test', -1))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => txtRecordLine('x.example.test', assertion(alice, nameOf('a@example.test')), 1.5))).toBe('INVALID_ARGUMENT');
  });

  test('name records: at the hashed owner name, only for a key that claims that name', () => {
    const as = [assertion(alice, nameOf('alice@example.test')), assertion(alice, keysOf(alice))];
    const lines = nameZoneRecords(as, 'alice@example.test');
    expect(lines.every((l) => l.startsWith(`${nameOwnerName('alice@example.test')}. 3600 IN TXT `))).toBe(true);
    expect(codeOf(() => nameZoneRecords(as, 'alice2@example.test'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => nameZoneRecords([as[1]!], 'alice@example.test'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => nameZoneRecords([...as, assertion(bob, keysOf(bob))], 'alice@example.test'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => nameZoneRecords(as, 'Alice@example.test'))).toBe('WIRE_BAD_TYPE');
  });

  test('txtRecordLine takes an absolute owner name (trailing dot) and a zero TTL', () => {
    const line = txtRecordLine('a.example.test.', assertion(alice, nameOf('a@example.test')), 0);
    expect(line).toMatch(/^a\.example\.test\. 0 IN TXT "kp1:/);
  });
});

describe('well-known answers', () => {
  test('the body is the bundle; headers allow any origin and cache until the earliest expiry', () => {
    const as = [assertion(alice, storesOf([10, 'https://s.example.test']), { notAfter: NOW + 100 }), assertion(alice, keysOf(alice))];
    const w = wellKnownResponse(as, NOW);
    expect(decodeBundle(w.body).map(toHex)).toEqual(as.map(toHex));
    expect(w.headers).toMatchObject({ 'access-control-allow-origin': '*', 'cache-control': 'public, max-age=100', 'x-content-type-options': 'nosniff' });
    expect(codeOf(() => wellKnownResponse(as, NOW, { name: 'alice@example.test' }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => wellKnownResponse([...as, assertion(alice, nameOf('alice@example.test'))], NOW, { name: 'alice@example.test' }))).toBe('ok');
    expect(codeOf(() => wellKnownResponse(Array.from({ length: 9 }, () => as[0]!), NOW))).toMatch(/^WIRE_/);
  });

  test('peekAssertion reads the header without trusting it', () => {
    const h = peekAssertion(assertion(alice, nameOf('alice@example.test'), { seq: 4 }));
    expect(h).toMatchObject({ type: 'name', seq: 4, name: 'alice@example.test' });
    expect(equal(h.address, alice.address)).toBe(true);
  });
});
