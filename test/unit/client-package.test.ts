// `actorgate/client`: what package.json exports resolve to on each runtime, and a core free of Node.
// Resolution runs in a scratch project whose node_modules/actorgate links to this clone.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'actorgate-client-pkg-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'actorgate'), 'dir');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Where `specifier` resolves from the scratch project under the given export conditions, relative to the clone. */
function resolve(specifier: string, conditions: string[] = []): string {
  const script = `console.log(import.meta.resolve(${JSON.stringify(specifier)}))`;
  const args = [...conditions.map((condition) => `--conditions=${condition}`), '--input-type=module', '-e', script];
  const url = execFileSync(process.execPath, args, { cwd: dir, encoding: 'utf8' }).trim();
  // The link is followed: the path is the clone's own file.
  return fileURLToPath(url).slice(ROOT.length).replace(/\\/g, '/');
}

describe('package exports', () => {
  it('resolves actorgate/client to the ws-injecting entry on Node, and to the portable core elsewhere', () => {
    expect(resolve('actorgate/client')).toBe('dist/src/client/node.js');
    for (const runtime of ['browser', 'bun', 'deno']) expect(resolve('actorgate/client', [runtime])).toBe('dist/src/client/index.js');
  });

  it('keeps package.json and the deep dist/ imports the README shows', () => {
    expect(resolve('actorgate/package.json')).toBe('package.json');
    expect(resolve('actorgate/dist/machines/connection.js')).toBe('dist/machines/connection.js');
  });

  it('keeps the bin entry', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin.actorgate).toBe('bin/actorgate.js');
  });
});

describe('portable core', () => {
  const NODE_ONLY = new Set(['node.ts', 'key-file.ts']);
  const sources = [
    'machines/client.ts',
    ...readdirSync(join(ROOT, 'src/client'))
      .filter((name) => name.endsWith('.ts') && !NODE_ONLY.has(name))
      .map((name) => `src/client/${name}`),
  ];

  it.each(sources)('%s imports no Node module, ws or fs', (file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((match) => match[1]!);
    expect(specifiers.filter((specifier) => specifier.startsWith('node:') || specifier === 'ws' || /^(fs|net|http|path|os)$/.test(specifier))).toEqual([]);
    // Nothing from the Node-only files either.
    expect(specifiers.filter((specifier) => /\/(node|key-file)\.js$/.test(specifier))).toEqual([]);
  });
});
