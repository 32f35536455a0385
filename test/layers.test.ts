/**
 * Imports point downward only (DESIGN.md, "Layers"). Every import in src/**\/*.ts is parsed
 * with the TypeScript compiler (static, re-exports, dynamic import(), import types, require)
 * and checked against the table below.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

type Layer = 'cli' | 'client' | 'server' | 'store' | 'storage' | 'discovery' | 'protocol' | 'identity' | 'wire' | 'crypto' | 'bytes';

/** The arrows as DESIGN.md draws them. bytes/ is the bottom layer shared by every layer. */
const ARROWS: Record<Layer, Layer[]> = {
  cli: ['client'],
  client: ['protocol', 'discovery', 'wire', 'crypto', 'identity', 'bytes'],
  server: ['store', 'protocol', 'discovery'],
  store: ['protocol', 'storage'],
  storage: ['bytes'], // "→ (its drivers)": no keypost layer but the shared bytes helpers
  discovery: ['protocol'],
  protocol: ['wire', 'crypto', 'identity', 'bytes'],
  identity: ['crypto', 'bytes'],
  wire: ['bytes'],
  crypto: ['bytes'],
  bytes: [],
};

/**
 * The transitive closure of ARROWS, written out so a reader sees what each layer may import
 * (besides itself and src/errors.ts). A test below checks it equals the closure.
 */
const ALLOWED: Record<Layer, Layer[]> = {
  cli: ['client', 'protocol', 'discovery', 'wire', 'crypto', 'identity', 'bytes'],
  client: ['protocol', 'discovery', 'wire', 'crypto', 'identity', 'bytes'],
  server: ['store', 'storage', 'protocol', 'discovery', 'wire', 'crypto', 'identity', 'bytes'],
  store: ['protocol', 'storage', 'wire', 'crypto', 'identity', 'bytes'],
  storage: ['bytes'],
  discovery: ['protocol', 'wire', 'crypto', 'identity', 'bytes'],
  protocol: ['wire', 'crypto', 'identity', 'bytes'],
  identity: ['crypto', 'bytes'],
  wire: ['bytes'],
  crypto: ['bytes'],
  bytes: [],
};

/** Packages only some layers may import. Anything else external is free. */
const PACKAGE_OWNERS: { test: (spec: string) => boolean; what: string; owners: Layer[] }[] = [
  { test: (s) => s.startsWith('@noble/'), what: '@noble/*', owners: ['crypto'] },
  { test: (s) => s === 'node:crypto' || s === 'crypto' || s.startsWith('node:crypto/'), what: 'node:crypto', owners: ['crypto'] },
  { test: (s) => s.startsWith('@scure/'), what: '@scure/*', owners: ['crypto', 'identity'] },
  { test: (s) => s === 'msgpackr' || s.startsWith('msgpackr/'), what: 'msgpackr (the format lives in wire/ only)', owners: ['wire'] },
];

type Where = Layer | 'errors' | 'barrel' | { unknown: string };

function layerOfPath(relPosix: string): Where {
  if (relPosix.startsWith('../') || relPosix === '..') return { unknown: `outside src: ${relPosix}` };
  const parts = relPosix.split('/');
  if (parts.length === 1) {
    const base = parts[0]!.replace(/\.(js|ts|mjs|cjs|mts|cts)$/, '');
    if (base === 'errors') return 'errors';
    if (base === 'index') return 'barrel';
    return { unknown: `src/${parts[0]}` };
  }
  const top = parts[0]!;
  if (top in ALLOWED) return top as Layer;
  return { unknown: `src/${top}/ (add it to the layer table in test/layers.test.ts)` };
}

interface Edge {
  /** The importing file, relative to src/, with forward slashes. */
  file: string;
  spec: string;
}

/** The rule checker: returns one message per violation. */
function checkEdges(edges: Edge[]): string[] {
  const out: string[] = [];
  for (const { file, spec } of edges) {
    const from = layerOfPath(file);
    const at = `src/${file}: import '${spec}'`;
    if (typeof from === 'object') {
      out.push(`${at}: file in unknown place ${from.unknown}`);
      continue;
    }
    if (spec.startsWith('.')) {
      const target = layerOfPath(posix.normalize(posix.join(posix.dirname(file), spec)));
      if (from === 'barrel') {
        if (typeof target === 'object') out.push(`${at}: target in unknown place ${target.unknown}`);
        continue;
      }
      if (typeof target === 'object') {
        out.push(`${at}: target in unknown place ${target.unknown}`);
      } else if (from === 'errors') {
        out.push(`${at}: src/errors.ts is imported by every layer and may import nothing from src`);
      } else if (target === 'barrel') {
        out.push(`${at}: only callers outside src/ may import the barrel src/index.ts`);
      } else if (target !== 'errors' && target !== from && !ALLOWED[from].includes(target)) {
        out.push(`${at}: layer ${from} may not import layer ${target}`);
      }
    } else {
      if (from === 'barrel') continue;
      for (const rule of PACKAGE_OWNERS) {
        if (rule.test(spec) && (from === 'errors' || !rule.owners.includes(from))) {
          out.push(`${at}: only ${rule.owners.join(', ')} may import ${rule.what}`);
        }
      }
    }
  }
  return out;
}

/** Every module specifier in one source text. */
function importsOf(fileName: string, source: string): string[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const specs: string[] = [];
  const lit = (n: ts.Node | undefined) => {
    if (n && ts.isStringLiteralLike(n)) specs.push(n.text);
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) lit(n.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) lit(n.moduleReference.expression);
    else if (ts.isCallExpression(n) && (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require'))) lit(n.arguments[0]);
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) lit(n.argument.literal);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return specs;
}

function sourceFiles(): string[] {
  return (readdirSync(SRC, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.split(sep).join('/'))
    .sort();
}

const realEdges = (): Edge[] => sourceFiles().flatMap((file) => importsOf(file, readFileSync(join(SRC, file), 'utf8')).map((spec) => ({ file, spec })));

describe('layers', () => {
  test('the ALLOWED table is exactly the transitive closure of the DESIGN arrows', () => {
    for (const layer of Object.keys(ARROWS) as Layer[]) {
      const seen = new Set<Layer>();
      const stack = [...ARROWS[layer]];
      while (stack.length) {
        const l = stack.pop()!;
        if (seen.has(l)) continue;
        seen.add(l);
        stack.push(...ARROWS[l]);
      }
      expect([...seen].sort(), layer).toEqual([...ALLOWED[layer]].sort());
      expect(seen.has(layer), `${layer} must not reach itself (a cycle)`).toBe(false);
    }
  });

  test('every import in src/ points downward', () => {
    const edges = realEdges();
    // Not vacuous: the parser sees the imports we know are there.
    expect(edges.length).toBeGreaterThan(40);
    expect(edges).toContainEqual({ file: 'protocol/envelope.ts', spec: '../wire/index.js' });
    expect(edges).toContainEqual({ file: 'crypto/noble.ts', spec: '@noble/ed25519' });
    expect(edges).toContainEqual({ file: 'identity/address.ts', spec: '@scure/base' });
    expect(checkEdges(edges)).toEqual([]);
  });

  test('src/ holds only known layers, src/errors.ts and the barrel src/index.ts', () => {
    const bad = sourceFiles()
      .map((f) => ({ f, where: layerOfPath(f) }))
      .filter(({ where }) => typeof where === 'object')
      .map(({ f, where }) => `${f}: ${(where as { unknown: string }).unknown}`);
    expect(bad).toEqual([]);
  });
});

describe('the checker itself', () => {
  test('reports an upward import', () => {
    expect(checkEdges([{ file: 'crypto/foo.ts', spec: '../protocol/index.js' }])).toEqual([
      "src/crypto/foo.ts: import '../protocol/index.js': layer crypto may not import layer protocol",
    ]);
    expect(checkEdges([{ file: 'wire/codec.ts', spec: '../identity/keys.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'protocol/x.ts', spec: '../discovery/dns.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'protocol/x.ts', spec: '../client/keystore.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'identity/x.ts', spec: '../wire/index.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'bytes/index.ts', spec: '../crypto/index.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'storage/sqlite.ts', spec: '../store/x.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'storage/sqlite.ts', spec: '../protocol/index.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'client/x.ts', spec: '../server/app.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'client/x.ts', spec: '../store/x.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'server/x.ts', spec: '../client/x.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'discovery/x.ts', spec: '../store/x.js' }])).toHaveLength(1);
  });

  test('accepts downward, same-layer and errors imports', () => {
    const ok: Edge[] = [
      { file: 'protocol/x.ts', spec: '../wire/index.js' },
      { file: 'protocol/x.ts', spec: './labels.js' },
      { file: 'protocol/sub/y.ts', spec: '../labels.js' },
      { file: 'bytes/index.ts', spec: '../errors.js' },
      { file: 'crypto/node.ts', spec: '../bytes/index.js' },
      { file: 'cli/main.ts', spec: '../client/index.js' },
      { file: 'cli/main.ts', spec: '../protocol/index.js' },
      { file: 'server/app.ts', spec: '../storage/sqlite.js' },
      { file: 'server/app.ts', spec: 'fastify' },
      { file: 'store/s.ts', spec: '../storage/index.js' },
      { file: 'index.ts', spec: './cli/main.js' },
      { file: 'index.ts', spec: '@noble/hashes/sha2.js' },
      { file: 'identity/keys.ts', spec: 'node:util' },
      { file: 'client/keystore.ts', spec: 'node:fs' },
    ];
    expect(checkEdges(ok)).toEqual([]);
  });

  test('reports packages imported outside their owners', () => {
    expect(checkEdges([{ file: 'protocol/x.ts', spec: '@noble/hashes/sha2.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'identity/x.ts', spec: '@noble/ed25519' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'server/x.ts', spec: 'node:crypto' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'client/x.ts', spec: 'crypto' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'protocol/x.ts', spec: '@scure/base' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'protocol/x.ts', spec: 'msgpackr' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'errors.ts', spec: 'node:crypto' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'identity/x.ts', spec: '@scure/base' }])).toEqual([]);
    expect(checkEdges([{ file: 'crypto/x.ts', spec: '@noble/curves/ed25519.js' }])).toEqual([]);
    expect(checkEdges([{ file: 'wire/codec.ts', spec: 'msgpackr' }])).toEqual([]);
  });

  test('reports imports of the barrel, from errors.ts, out of src/ and into unknown places', () => {
    expect(checkEdges([{ file: 'protocol/x.ts', spec: '../index.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'errors.ts', spec: './bytes/index.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'protocol/x.ts', spec: '../../test/helpers.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'protocol/x.ts', spec: '../gateway/smtp.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'gateway/smtp.ts', spec: '../bytes/index.js' }])).toHaveLength(1);
    expect(checkEdges([{ file: 'util.ts', spec: './bytes/index.js' }])).toHaveLength(1);
  });

  test('the parser finds every kind of import, and nothing in comments or strings', () => {
    const src = `
      import a from '../protocol/a.js';
      import type { B } from '../protocol/b.js';
      import * as c from '../protocol/c.js';
      import '../protocol/d.js';
      export { e } from '../protocol/e.js';
      export * from '../protocol/f.js';
      export type { G } from '../protocol/g.js';
      const h = await import('../protocol/h.js');
      type I = typeof import('../protocol/i.js');
      import j = require('../protocol/j.js');
      const k = require('../protocol/k.js');
      // import x from '../protocol/comment.js';
      /* export * from '../protocol/block.js' */
      const s = "import y from '../protocol/string.js'";
    `;
    const specs = importsOf('crypto/fake.ts', src);
    expect(specs).toEqual('abcdefghijk'.split('').map((x) => `../protocol/${x}.js`));
    const violations = checkEdges(specs.map((spec) => ({ file: 'crypto/fake.ts', spec })));
    expect(violations).toHaveLength(11);
    expect(violations.every((v) => v.includes('layer crypto may not import layer protocol'))).toBe(true);
  });
});
