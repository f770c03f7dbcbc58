// `npm run test:portability`: the machines' scenarios under Node, Bun, Deno and headless Chromium.
// Prints `<runtime>: N passed, N failed` per runtime and the totals last; exits 1 on any failure.
// A runtime that cannot be installed is skipped, not failed.
import { spawn } from 'node:child_process';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { RESULT_MARKER, report } from './report.mjs';
import { CACHE_DIR, ensureBun, ensureChromium, ensureDeno } from './runtimes.mjs';
import { runScenarios } from './scenarios.mjs';
import { nodeHostVector } from './vectors.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RUN_TIMEOUT_MS = 120_000;

async function onNode() {
  const { nodeDeviceCrypto } = await import(pathToFileURL(join(ROOT, 'dist/src/auth/node-crypto.js')).href);
  const result = await runScenarios({
    machinesBase: pathToFileURL(join(ROOT, 'dist/machines')).href,
    authBase: pathToFileURL(join(ROOT, 'dist/src/auth')).href,
    crypto: nodeDeviceCrypto,
  });
  const drift = vectorDrift();
  if (drift) result.failures.push({ name: 'vectors.mjs', message: drift });
  result.failed = result.failures.length;
  const lines = [];
  report(`node ${process.version} (${nodeDeviceCrypto.name} verifier)`, result, (line) => lines.push(line));
  return resultFrom('node', lines, 'in process');
}

/** vectors.mjs inlines the captured fixture for runtimes without a file system: it must not drift from it. */
function vectorDrift() {
  const fixture = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/conformance/node-host-connect.json'), 'utf8'));
  const { client, role, scopes, auth, device } = fixture.connect.params;
  const { deviceId, signatureVersion, signedPayload } = fixture.expect;
  const expected = {
    challengeNonce: fixture.challenge.payload.nonce,
    client: { id: client.id, mode: client.mode, platform: client.platform, deviceFamily: client.deviceFamily },
    role,
    scopes,
    auth,
    device,
    expect: { deviceId, signatureVersion, signedPayload },
  };
  const same = JSON.stringify(expected) === JSON.stringify(nodeHostVector);
  return same ? null : 'differs from test/fixtures/conformance/node-host-connect.json';
}

async function onBun() {
  const bun = await ensureBun();
  if ('skipped' in bun) return bun;
  return runChild('bun', bun.path, ['run', 'test/portability/entry-bun.mjs']);
}

async function onDeno() {
  const deno = await ensureDeno();
  if ('skipped' in deno) return deno;
  // With package.json and node_modules present, --node-modules-dir=manual resolves bare imports
  // (xstate, @noble/*) from the project's node_modules; --no-remote --cached-only: no network at all.
  const args = ['run', `--allow-read=${ROOT}`, '--node-modules-dir=manual', '--no-remote', '--cached-only', 'test/portability/entry-deno.mjs'];
  const env = { DENO_DIR: join(CACHE_DIR, 'deno-dir'), DENO_NO_UPDATE_CHECK: '1', DENO_NO_PROMPT: '1' };
  return runChild('deno', deno.path, args, env);
}

/** Runs a runtime on an entry script; its output is echoed, its result read from the marker line. */
function runChild(name, command, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const output = [];
    const collect = (chunk) => output.push(chunk.toString());
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    const finish = (status) => {
      clearTimeout(timer);
      resolve(resultFrom(name, output.join('').split('\n'), status));
    };
    child.on('error', (error) => finish(String(error)));
    child.on('close', (code, signal) => finish(signal ? `killed by ${signal}` : `exited ${code}`));
  });
}

/** Echoes a runtime's lines (indented) and returns the result it reported, or a failure if none. */
function resultFrom(name, lines, status) {
  let result;
  for (const line of lines) {
    if (line.startsWith(RESULT_MARKER)) result = JSON.parse(line.slice(RESULT_MARKER.length));
    else if (line.trim()) console.log(`  [${name}] ${line}`);
  }
  return result ?? { passed: 0, failed: 1, failures: [{ name: `${name} run`, message: `no result (${status})` }] };
}

async function onChromium() {
  const found = await ensureChromium();
  if ('skipped' in found) return found;
  const server = await serveProjectRoot();
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: found.path,
      timeout: 60_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    console.log(`  [chromium] ${found.path}, version ${browser.version()}`);
    const page = await browser.newPage();
    const lines = [];
    page.on('console', (message) => lines.push(message.text()));
    page.on('pageerror', (error) => lines.push(`page error: ${error.message}`));
    const reported = page.waitForEvent('console', { predicate: (m) => m.text().startsWith(RESULT_MARKER), timeout: RUN_TIMEOUT_MS });
    const { port } = server.address();
    await page.goto(`http://127.0.0.1:${port}/test/portability/browser.html`, { timeout: 30_000 });
    const status = await reported.then(() => 'reported', (error) => error.message.split('\n')[0]);
    return resultFrom('chromium', lines, status);
  } finally {
    await browser?.close();
    await new Promise((resolve) => server.close(resolve));
  }
}

const CONTENT_TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.map': 'application/json' };

/** A static file server on 127.0.0.1 (random port) for the project root. */
function serveProjectRoot() {
  const server = createServer((request, response) => {
    const path = normalize(join(ROOT, decodeURIComponent(new URL(request.url, 'http://x').pathname)));
    const inside = path.startsWith(ROOT.endsWith(sep) ? ROOT : ROOT + sep);
    const file = inside && statSync(path, { throwIfNoEntry: false });
    if (request.method !== 'GET' || !file?.isFile()) {
      response.writeHead(404).end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    createReadStream(path).on('error', () => response.destroy()).pipe(response);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const RUNTIMES = { node: onNode, bun: onBun, deno: onDeno, chromium: onChromium };
const totals = { passed: 0, failed: 0 };
const summary = [];
for (const [name, run] of Object.entries(RUNTIMES)) {
  console.log(`--- ${name}`);
  let result;
  try {
    result = await run();
  } catch (error) {
    result = { passed: 0, failed: 1, failures: [{ name: `${name} run`, message: error?.message ?? String(error) }] };
    console.log(`  [${name}] ${result.failures[0].message}`);
  }
  if ('skipped' in result) {
    summary.push(`${name}: skipped (${result.skipped})`);
    continue;
  }
  totals.passed += result.passed;
  totals.failed += result.failed;
  summary.push(`${name}: ${result.passed} passed, ${result.failed} failed`);
}
console.log('---');
for (const line of summary) console.log(line);
console.log(`${totals.passed} passed, ${totals.failed} failed`);
process.exitCode = totals.failed === 0 ? 0 : 1;
