/**
 * Publishing assertions (pure): the DNS records an operator pastes into a zone, and the
 * HTTP answer a store gives at a well-known path. Nothing here is trusted by a
 * resolver; these helpers only save the publisher from mistakes (an assertion about
 * another address under this address's owner name, a name the key does not claim).
 */
import { KeypostError } from '../errors.js';
import { equal } from '../bytes/index.js';
import { addressOf, addressToText } from '../identity/index.js';
import {
  addressOwnerName,
  ASSERTION_TYPE,
  assertionToTxt,
  encodeBundle,
  nameOwnerName,
  parseLegacyName,
  type AssertionTypeName,
} from '../protocol/index.js';
import { decode } from '../wire/index.js';
import { Assertion, AssertionBody, NameContent } from '../wire/schema.js';
import { BUNDLE_MEDIA_TYPE } from './transport.js';

/** Default TTL of published TXT records and max-age of well-known answers, in seconds. */
export const DEFAULT_TTL = 3600;

const TYPE_NAMES = new Map<number, AssertionTypeName>(
  (Object.entries(ASSERTION_TYPE) as [AssertionTypeName, number][]).map(([k, v]) => [v, k]),
);

/** What an assertion says it is, WITHOUT any verification: for routing and for publishers. */
export interface AssertionHeader {
  address: Uint8Array;
  type: AssertionTypeName | undefined;
  seq: number;
  notBefore: number;
  notAfter: number;
  /** For a *name* assertion, the name it claims (undecoded otherwise). */
  name?: string;
}

/** Decode an assertion's body without checking its signature or window. Throws WIRE_* / KEY_*. */
export function peekAssertion(bytes: Uint8Array): AssertionHeader {
  const b = decode(AssertionBody, decode(Assertion, bytes).body);
  const type = TYPE_NAMES.get(b.type);
  const h: AssertionHeader = { address: addressOf(b.subject), type, seq: b.seq, notBefore: b.notBefore, notAfter: b.notAfter };
  if (type === 'name') h.name = decode(NameContent, b.content).name;
  return h;
}

function checkTtl(ttl: number): void {
  if (!Number.isSafeInteger(ttl) || ttl < 0 || ttl > 0x7fff_ffff) throw new KeypostError('INVALID_ARGUMENT', 'ttl must be 0 … 2^31−1 seconds');
}

/** A master-file character-string: quoted, with `"` and `\` escaped (base64 has neither). */
const quote = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** One TXT record line (RFC 1035 §5.1 master-file syntax) with an absolute owner name. */
export function txtRecordLine(owner: string, assertion: Uint8Array, ttl = DEFAULT_TTL): string {
  checkTtl(ttl);
  return `${owner.replace(/\.$/, '')}. ${ttl} IN TXT ${assertionToTxt(assertion).map(quote).join(' ')}`;
}

function peekAll(assertions: readonly Uint8Array[]): AssertionHeader[] {
  if (assertions.length === 0) throw new KeypostError('INVALID_ARGUMENT', 'nothing to publish');
  return assertions.map((a, i) => {
    try {
      return peekAssertion(a);
    } catch (e) {
      throw new KeypostError('INVALID_ARGUMENT', `assertion #${i} does not decode: ${(e as Error).message}`, { cause: e });
    }
  });
}

/**
 * The TXT records that publish `assertions` about `address` in `zone` (§8.1), one line
 * per assertion, ready to paste into the zone's master file:
 *
 *     kp1…._keypost.example.org. 3600 IN TXT "kp1:…" "…"
 */
export function zoneRecords(assertions: readonly Uint8Array[], address: Uint8Array, zone: string, ttl = DEFAULT_TTL): string[] {
  const owner = addressOwnerName(address, zone);
  peekAll(assertions).forEach((h, i) => {
    if (!equal(h.address, address)) {
      throw new KeypostError('INVALID_ARGUMENT', `assertion #${i} is about ${addressToText(h.address)}, not ${addressToText(address)}`);
    }
  });
  return assertions.map((a) => txtRecordLine(owner, a, ttl));
}

/**
 * The TXT records a domain publishes behind the legacy name `name` (§8.1, §8.3): the
 * key's own assertions, which must all be about one address and include a *name*
 * assertion claiming exactly `name` (the other direction of the two-way check).
 */
export function nameZoneRecords(assertions: readonly Uint8Array[], name: string, ttl = DEFAULT_TTL): string[] {
  parseLegacyName(name);
  const owner = nameOwnerName(name);
  checkNamePublication(peekAll(assertions), name);
  return assertions.map((a) => txtRecordLine(owner, a, ttl));
}

function checkNamePublication(headers: AssertionHeader[], name: string): void {
  const first = headers[0]!.address;
  if (!headers.every((h) => equal(h.address, first))) throw new KeypostError('INVALID_ARGUMENT', 'assertions behind one name must be about one address');
  if (!headers.some((h) => h.type === 'name' && h.name === name)) {
    throw new KeypostError('INVALID_ARGUMENT', `no name assertion claims ${JSON.stringify(name)}`);
  }
}

export interface WellKnownResponse {
  body: Uint8Array;
  headers: Record<string, string>;
}

/**
 * What a store answers at `/.well-known/keypost/<address>` or `/name/<hash>` (§8.2): the
 * bundle, readable cross-origin (browsers' clients resolve too), cacheable until the
 * earliest expiry among the assertions and at most `maxAge` seconds.
 * `name`, when given, checks the publication as nameZoneRecords does.
 */
export function wellKnownResponse(assertions: readonly Uint8Array[], now: number, o: { maxAge?: number; name?: string } = {}): WellKnownResponse {
  const maxAge = o.maxAge ?? DEFAULT_TTL;
  checkTtl(maxAge);
  const headers = peekAll(assertions);
  if (o.name !== undefined) checkNamePublication(headers, o.name);
  const earliest = Math.min(...headers.map((h) => h.notAfter));
  const age = Math.max(0, Math.min(maxAge, earliest - now));
  return {
    body: encodeBundle([...assertions]),
    headers: {
      'content-type': BUNDLE_MEDIA_TYPE,
      'cache-control': `public, max-age=${age}`,
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'GET, HEAD, OPTIONS',
      'x-content-type-options': 'nosniff',
    },
  };
}
