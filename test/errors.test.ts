/**
 * Keeps the error registry (src/errors.ts), its documentation (docs/errors.md), the
 * vectors' `expect` values and the codes raised across src/ in step, in the manner of
 * fastify's test/internals/errors.test.js.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ERROR_CODES, fail, isErrorCode, KeypostError, type ErrorCode } from '../src/errors.js';

const ROOT = join(import.meta.dirname, '..');
const CODES = Object.keys(ERROR_CODES) as ErrorCode[];
const DOC = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');

/** The codes docs/errors.md documents: every heading whose text is one backticked CODE. */
const headingCodes = [...DOC.matchAll(/^#{2,4}[ \t]+`([A-Za-z0-9_]+)`[ \t]*$/gm)].map((m) => m[1]!);

/** The text under each code heading, up to the next heading. */
function sections(): Map<string, string> {
  const out = new Map<string, string>();
  const parts = DOC.split(/^(?=#{1,4}[ \t])/m);
  for (const p of parts) {
    const m = /^#{2,4}[ \t]+`([A-Za-z0-9_]+)`[ \t]*\n([\s\S]*)$/.exec(p);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|mts|cts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

describe('the registry', () => {
  test('codes are UPPER_SNAKE_CASE, unique, each with a one-line description', () => {
    expect(CODES.length).toBeGreaterThan(0);
    expect(new Set(CODES).size).toBe(CODES.length);
    for (const code of CODES) {
      expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      expect(ERROR_CODES[code].length).toBeGreaterThan(10);
      expect(ERROR_CODES[code]).not.toMatch(/\n/);
    }
  });

  test('isErrorCode accepts exactly the registry', () => {
    for (const code of CODES) expect(isErrorCode(code)).toBe(true);
    for (const s of ['', 'ok', 'OK', 'expired', 'toString', 'constructor', '__proto__', 'hasOwnProperty', 'WIRE_', 'EXPIRED ']) {
      expect(isErrorCode(s)).toBe(false);
    }
  });
});

describe('docs/errors.md', () => {
  test('documents every registry code, in the registry order, and no other', () => {
    expect(headingCodes).toEqual(CODES);
  });

  test('each code says what it means, when it happens and what to do', () => {
    const s = sections();
    for (const code of CODES) {
      const text = s.get(code) ?? '';
      for (const part of ['**Meaning.**', '**When.**', '**What to do.**']) {
        expect(text, `${code} lacks ${part}`).toContain(part);
      }
      expect(text.replace(/\*\*[^*]+\*\*/g, '').trim().length, `${code} is documented too briefly`).toBeGreaterThan(150);
    }
  });
});

describe('the vectors', () => {
  const dir = join(ROOT, 'vectors');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

  test('there are vector files', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  test.each(files)('%s: every expect is "ok" or a registry code', (f) => {
    const data = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { cases: { id: string; expect: unknown }[] };
    expect(Array.isArray(data.cases)).toBe(true);
    for (const c of data.cases) {
      expect(typeof c.expect, c.id).toBe('string');
      expect(c.expect === 'ok' || isErrorCode(c.expect as string), `${c.id}: ${String(c.expect)}`).toBe(true);
    }
  });
});

describe('KeypostError', () => {
  test.each(CODES)('%s: carries its code, and its message starts with it', (code) => {
    const plain = new KeypostError(code);
    expect(plain).toBeInstanceOf(Error);
    expect(plain.name).toBe('KeypostError');
    expect(plain.code).toBe(code);
    expect(plain.message.startsWith(`${code}: `)).toBe(true);
    expect(plain.message).toBe(`${code}: ${ERROR_CODES[code]}`);

    const detailed = new KeypostError(code, 'some detail');
    expect(detailed.code).toBe(code);
    expect(detailed.message).toBe(`${code}: some detail`);

    let thrown: unknown;
    try {
      fail(code, 'from fail');
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(KeypostError);
    expect((thrown as KeypostError).code).toBe(code);
    expect((thrown as KeypostError).message).toBe(`${code}: from fail`);
  });

  test('keeps a cause', () => {
    const cause = new Error('underlying');
    expect(new KeypostError('WIRE_MALFORMED', 'x', { cause }).cause).toBe(cause);
  });
});

describe('codes raised across src/', () => {
  // `new KeypostError('X'`, `fail('X'` and the codec's local `err('X'`, over line breaks too.
  const RAISE = /(?:\bnew\s+KeypostError|\bfail|\berr)\s*\(\s*(['"`])([A-Za-z0-9_]+)\1/g;
  const raised: { file: string; code: string }[] = [];
  for (const file of sourceFiles(join(ROOT, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(RAISE)) raised.push({ file: relative(ROOT, file), code: m[2]! });
  }

  test('the scan finds the raising sites (so a broken pattern cannot pass vacuously)', () => {
    expect(raised.length).toBeGreaterThan(50);
    expect(new Set(raised.map((r) => r.file)).size).toBeGreaterThan(5);
  });

  test('every code raised is in the registry', () => {
    const unknown = raised.filter((r) => !isErrorCode(r.code)).map((r) => `${r.file}: ${r.code}`);
    expect(unknown).toEqual([]);
  });
});
