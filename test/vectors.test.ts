/**
 * Runs every case of every vectors/*.json file against the implementation, on the
 * node:crypto backend and again on the @noble backend. A case passes when the operation
 * gives exactly its `expect` (ok or the error code) and, for ok cases, exactly its
 * `result`. vectors/README.md defines each operation; this file is one reading of it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fromHex, toHex } from '../src/bytes/index.js';
import { crypto, useBackend } from '../src/crypto/index.js';
import { isErrorCode, KeypostError } from '../src/errors.js';
import { addressFromText, addressOf, addressToText, EncryptionKey } from '../src/identity/index.js';
import {
  checkStamp,
  LABELS,
  labelled,
  leadingZeroBits,
  openEnvelope,
  openSubjectHint,
  requiredBits,
  verifyAssertion,
  verifyFetchRequest,
  verifyNotification,
  verifyReceipt,
  verifyRetraction,
  verifyRevocation,
  verifySubkeyCert,
  type AssertionContent,
  type AssertionTypeName,
  type SignedBy,
} from '../src/protocol/index.js';
import { decode, type StructT } from '../src/wire/index.js';
import * as schema from '../src/wire/schema.js';

const DIR = join(import.meta.dirname, '..', 'vectors');
const AREAS = ['addresses', 'wire', 'certs', 'assertions', 'envelopes', 'notifications', 'receipts', 'retractions', 'fetch', 'pow'];

type Case = { id: string; description: string; operation: string; expect: string; result?: unknown } & Record<string, any>;
interface VectorFile {
  area: string;
  description: string;
  cases: Case[];
}

const fileNames = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const files: VectorFile[] = fileNames.map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as VectorFile);

// ---- the operations of vectors/README.md -------------------------------------------------

const hex = (s: string): Uint8Array => fromHex(s);
const hexSet = (xs: string[] | undefined) => new Set((xs ?? []).map((x) => x.toLowerCase()));

/** Decoded values as the vectors write them: binaries as lowercase hex. */
function toJson(v: unknown): unknown {
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(toJson);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
}

function signer(by: SignedBy) {
  const kind = by.purpose === undefined ? 'identity' : by.purpose === 1 ? 'device' : by.purpose === 3 ? 'store-delegate' : `purpose ${by.purpose}`;
  return { signer: kind, signingKey: toHex(by.signingKey) };
}

function content(c: AssertionContent): unknown {
  switch (c.type) {
    case 'stores':
      return toJson({ stores: c.stores });
    case 'keys':
      return toJson({ keys: c.keys });
    case 'name':
      return { name: c.name };
    case 'policy':
      return toJson(c.policy);
  }
}

function structure(name: string): StructT<unknown> {
  const t = (schema as Record<string, unknown>)[name] as StructT<unknown> | undefined;
  if (!t || t.kind !== 'struct') throw new Error(`no structure ${name} in the schema`);
  return t;
}

const clock = (c: Case) => ({ now: c.now as number, skew: c.skew as number });
/** `revoked`: hex public keys the verifier treats as revoked, isRevoked(k) = k in the list (absent: none). */
const revocations = (c: Case) => {
  const revoked = hexSet(c.revoked);
  return { isRevoked: (k: Uint8Array) => revoked.has(toHex(k)) };
};

function run(c: Case): unknown {
  switch (c.operation) {
    case 'address-of': {
      const a = addressOf(hex(c.key));
      return { address: toHex(a), text: addressToText(a) };
    }
    case 'parse': {
      const a = addressFromText(c.text);
      return { address: toHex(a), text: addressToText(a) };
    }
    case 'decode':
      return { value: toJson(decode(structure(c.structure), hex(c.input))) };
    case 'verify-cert':
      return toJson(verifySubkeyCert(hex(c.cert), { ...clock(c), ...revocations(c) }));
    case 'verify-revocation':
      return toJson(verifyRevocation(hex(c.revocation)));
    case 'verify-assertion': {
      const v = verifyAssertion(hex(c.assertion), {
        ...clock(c),
        ...revocations(c),
        ...(c.address !== undefined ? { address: addressFromText(c.address) } : {}),
        ...(c.type !== undefined ? { type: c.type as AssertionTypeName } : {}),
        ...(c.highestSeq !== undefined ? { highestSeq: c.highestSeq as number } : {}),
      });
      return {
        subject: toHex(v.subject),
        address: addressToText(v.address),
        type: v.content.type,
        seq: v.seq,
        notBefore: v.notBefore,
        notAfter: v.notAfter,
        content: content(v.content),
      };
    }
    case 'open-envelope': {
      const m = openEnvelope(hex(c.envelope), {
        key: EncryptionKey.fromSecret(hex(c.recipientSecretKey)),
        ...clock(c),
        ...revocations(c),
        ...(c.expectedId !== undefined ? { expectedId: hex(c.expectedId) } : {}),
      });
      return { id: toHex(m.id), author: addressToText(m.author), ...signer(m.signedBy), message: toJson(m.message) };
    }
    case 'verify-notification': {
      const served = new Set((c.served as string[]).map((t) => toHex(addressFromText(t))));
      const seen = hexSet(c.seen);
      const v = verifyNotification(hex(c.notification), {
        ...clock(c),
        ...revocations(c),
        isLocalRecipient: (a) => served.has(toHex(a)),
        isReplay: (h) => seen.has(toHex(h)),
        powBits: () => c.powBits as number,
      });
      const { sealed: _sealed, ...body } = v.body;
      const out: Record<string, unknown> = { body: toJson(body), senderAddress: addressToText(v.sender), hash: toHex(v.hash), ...signer(v.signedBy) };
      if (c.recipientSecretKey !== undefined) out.subjectHint = openSubjectHint(v.body, EncryptionKey.fromSecret(hex(c.recipientSecretKey))) ?? null;
      return out;
    }
    case 'verify-receipt':
    case 'verify-retraction':
    case 'verify-fetch-request': {
      const ctx = { ...clock(c), ...revocations(c), ...(c.messageId !== undefined ? { id: hex(c.messageId) } : {}) };
      const v =
        c.operation === 'verify-receipt'
          ? verifyReceipt(hex(c.receipt), ctx)
          : c.operation === 'verify-retraction'
            ? verifyRetraction(hex(c.retraction), ctx)
            : verifyFetchRequest(hex(c.request), { ...ctx, store: c.store as string });
      return { body: toJson(v.body), from: addressToText(v.from), ...signer(v.signedBy), hash: toHex(v.hash) };
    }
    case 'required-bits':
      return { bits: requiredBits(c.policy, c.size) };
    case 'check-stamp': {
      const bits = requiredBits(c.policy, c.size);
      const recipient = hex(c.recipient);
      const id = hex(c.messageId);
      const nonce = c.nonce === null ? undefined : hex(c.nonce);
      checkStamp(recipient, id, nonce, bits);
      return { requiredBits: bits, leadingZeroBits: nonce ? leadingZeroBits(crypto().sha256(labelled(LABELS.pow, recipient, id, nonce))) : null };
    }
    default:
      throw new Error(`unknown operation ${c.operation}`);
  }
}

/** What a case gave, in the shape of its expectation. Untyped exceptions are failures. */
function outcome(c: Case): { expect: string; result?: unknown } {
  try {
    return { expect: 'ok', result: run(c) };
  } catch (e) {
    if (e instanceof KeypostError) return { expect: e.code };
    return { expect: `untyped exception: ${String(e)}` };
  }
}
const wanted = (c: Case) => (c.expect === 'ok' ? { expect: 'ok', result: c.result } : { expect: c.expect });

// ---- the files themselves ------------------------------------------------------------

describe('vector files', () => {
  test('one file per area, nothing else', () => {
    expect(fileNames).toEqual(AREAS.map((a) => `${a}.json`).sort());
  });

  test('at least 150 cases in all, under 2 MB', () => {
    expect(files.reduce((n, f) => n + f.cases.length, 0)).toBeGreaterThanOrEqual(150);
    expect(fileNames.reduce((n, f) => n + statSync(join(DIR, f)).size, 0)).toBeLessThan(2 * 1024 * 1024);
  });

  test.each(files.map((f) => [f.area, f] as const))('%s: well-formed, with valid and invalid cases', (area, f) => {
    expect(f.description.length).toBeGreaterThan(20);
    expect(f.cases.length).toBeGreaterThan(0);
    f.cases.forEach((c, i) => {
      expect(c.id).toMatch(new RegExp(`^${area}-${String(i + 1).padStart(3, '0')}-[a-z0-9]+(-[a-z0-9]+)*$`));
      expect(c.description).toMatch(/^\S.*\.$/);
      expect(typeof c.operation).toBe('string');
      expect(c.expect === 'ok' || isErrorCode(c.expect)).toBe(true);
      expect(c.result !== undefined).toBe(c.expect === 'ok');
    });
    expect(f.cases.some((c) => c.expect === 'ok')).toBe(true);
    expect(f.cases.some((c) => c.expect !== 'ok')).toBe(true);
  });
});

describe('the revoked input', () => {
  /** The operations whose verifier takes isRevoked (vectors/README.md). */
  const REVOCABLE = ['verify-cert', 'verify-assertion', 'open-envelope', 'verify-notification', 'verify-receipt', 'verify-retraction', 'verify-fetch-request'];
  const cases = files.flatMap((f) => f.cases);

  test('appears only on operations that take a revocation check, as a list of 32-byte hex keys', () => {
    for (const c of cases.filter((x) => x.revoked !== undefined)) {
      expect(REVOCABLE, c.id).toContain(c.operation);
      expect(Array.isArray(c.revoked), c.id).toBe(true);
      for (const k of c.revoked as unknown[]) expect(k, c.id).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  test('every KEY_REVOKED case names what is revoked', () => {
    for (const c of cases.filter((x) => x.expect === 'KEY_REVOKED')) expect((c.revoked as string[] | undefined)?.length, c.id).toBeGreaterThan(0);
  });

  test.each(REVOCABLE)('%s: has a KEY_REVOKED case and an ok case with an unrelated key revoked', (op) => {
    const mine = cases.filter((c) => c.operation === op);
    expect(mine.some((c) => c.expect === 'KEY_REVOKED')).toBe(true);
    expect(mine.some((c) => c.expect === 'ok' && (c.revoked as string[] | undefined)?.length)).toBe(true);
  });
});

// ---- every case, on both backends ----------------------------------------------------

const all = files.flatMap((f) => f.cases.map((c) => [c.id, c] as const));

describe.each(['node', 'noble'] as const)('vectors on the %s backend', (backend) => {
  beforeAll(() => useBackend(backend));
  afterAll(() => useBackend('node'));

  test('the backend is active', () => {
    expect(crypto().name).toBe(backend);
  });

  test.each(all)('%s', (_id, c) => {
    expect(outcome(c)).toEqual(wanted(c));
  });
});
