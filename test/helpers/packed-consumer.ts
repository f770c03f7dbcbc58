// A project outside the repository that uses actorgate as a user's would: the package packed with `npm pack`
// and installed from the tarball with `npm install`, beside @sinclair/typebox and @types/node at the versions
// this repository uses (so the npm cache that `npm ci` filled usually serves them). Its programs are compiled
// with TypeScript against the declarations the package ships, and run with Node.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const installedVersion = (name: string) => (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

/** The code of the fenced block right after `marker` in the README. */
export function readmeBlock(marker: string, language = 'ts'): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(marker);
  if (at < 0) throw new Error(`README.md has no ${marker}`);
  const match = new RegExp(`^\\n\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, 'm').exec(readme.slice(at + marker.length));
  if (!match || match.index !== 0) throw new Error(`no \`\`\`${language} block right after ${marker}`);
  return match[1]!;
}

export interface CompileResult {
  ok: boolean;
  output: string;
}

export interface Consumer {
  dir: string;
  /** Writes a TypeScript file into the project. */
  write(file: string, source: string): void;
  /** `tsc --strict` over these files (checking the package's own declarations too); compiled to out/. */
  compile(files: string[]): Promise<CompileResult>;
  /** Runs a compiled program (out/<name>.js) with extra environment variables. */
  start(file: string, env: Record<string, string>): ChildProcess;
  dispose(): void;
}

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    types: ['node'],
    outDir: 'out',
    rootDir: '.',
    // The package's declarations are checked too: they must hold up under a user's strict settings.
    skipLibCheck: false,
  },
};

/** Packs this repository (its dist/ must be built) and installs the tarball in a new project in the temp dir. */
export async function installPackedConsumer(): Promise<Consumer> {
  if (!existsSync(join(ROOT, 'dist', 'src', 'index.d.ts'))) throw new Error('dist/ is not built with declarations: run `npm run build` first');
  const dir = mkdtempSync(join(tmpdir(), 'actorgate-consumer-'));
  const packed = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: ROOT });
  const tarball = join(dir, packed.stdout.trim().split('\n').at(-1)!);
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'actorgate-consumer', private: true, type: 'module' }, null, 2)}\n`);
  writeFileSync(join(dir, 'tsconfig.json'), `${JSON.stringify(TSCONFIG, null, 2)}\n`);
  const dependencies = [tarball, `@sinclair/typebox@${installedVersion('@sinclair/typebox')}`, `@types/node@${installedVersion('@types/node')}`];
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel', 'error', ...dependencies], { cwd: dir, timeout: 240_000 });
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const children: ChildProcess[] = [];
  return {
    dir,
    write: (file, source) => writeFileSync(join(dir, file), source),
    async compile(files) {
      writeFileSync(join(dir, 'tsconfig.json'), `${JSON.stringify({ ...TSCONFIG, files }, null, 2)}\n`);
      try {
        const { stdout, stderr } = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, timeout: 120_000 });
        return { ok: true, output: stdout + stderr };
      } catch (error) {
        const failed = error as { stdout?: string; stderr?: string };
        return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
      }
    },
    start(file, env) {
      const child = spawn(process.execPath, [join(dir, 'out', file)], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return child;
    },
    dispose() {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the first line of a child's stdout that matches, or rejects when it exits first. */
export function lineMatching(child: ChildProcess, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split('\n')) {
        const match = pattern.exec(line);
        if (!match) continue;
        clearTimeout(timer);
        resolve(match);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before a line matching ${pattern}; stderr: ${stderr}`));
    });
  });
}
