// One JSON document in one file, written so that a crash at any moment leaves either the old or the new document.
//
// A save writes the whole document to a fresh temp file in the same directory, fsyncs it, renames it over the target
// and fsyncs the directory, so the rename itself is durable. Saves are serialised (one write in flight) and coalesced
// (while a write runs, later saves collapse into one write of the newest value). A save's promise resolves only once a
// write holding its value, or a later one, is durable. Meant for one writer per file: one store per path per process.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface JsonFileStoreOptions<T> {
  /** The file holding the document. Its directory is created (0o700) by the first save when missing. */
  path: string;
  /** The value of a store whose file does not exist yet. */
  empty: () => T;
  /** Checks a parsed document and returns it typed; throws when it is invalid. Also applied to every saved value. */
  parse: (value: unknown) => T;
  /** Mode of the file, set exactly (not subject to the umask). Default 0o600. */
  fileMode?: number;
}

/** A file that exists but cannot be loaded: not JSON, or refused by `parse`. The file is left untouched. */
export class JsonFileStoreError extends Error {
  override readonly name = 'JsonFileStoreError';
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface Batch {
  text: string;
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

// Temp files of writes in flight in this process, so that one store's cleanup never removes another's.
const inFlightTemps = new Set<string>();

// fsync of a directory is not supported everywhere (Windows, some file systems): there it is skipped.
const dirSyncUnsupported = new Set(['EISDIR', 'EINVAL', 'ENOTSUP']);

export class JsonFileStore<T> {
  readonly path: string;
  private readonly dir: string;
  private readonly base: string;
  private readonly fileMode: number;
  private readonly empty: () => T;
  private readonly parse: (value: unknown) => T;
  private readonly tempPattern: RegExp;
  /** The newest value not yet being written, with the promise every save that issued it waits on. */
  private pending: Batch | undefined;
  /** The batch being written now. */
  private writing: Batch | undefined;
  private cleanupDue = true;

  constructor(options: JsonFileStoreOptions<T>) {
    this.path = options.path;
    this.dir = dirname(options.path);
    this.base = basename(options.path);
    this.fileMode = options.fileMode ?? 0o600;
    this.empty = options.empty;
    this.parse = options.parse;
    this.tempPattern = new RegExp(`^\\.${this.base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.[0-9a-f]+\\.tmp$`);
  }

  /**
   * The stored document: `empty()` when the file does not exist. Waits for this store's saves issued before it, so it
   * reads its own writes. Throws `JsonFileStoreError` naming the file when it is not JSON or `parse` refuses it.
   */
  async load(): Promise<T> {
    await this.flush().catch(() => undefined);
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return this.empty();
      throw error;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new JsonFileStoreError(
        this.path,
        `${this.path} is not valid JSON (${messageOf(error)}); it was left untouched: repair or remove it`,
        { cause: error },
      );
    }
    try {
      return this.parse(raw);
    } catch (error) {
      throw new JsonFileStoreError(
        this.path,
        `${this.path} holds an invalid document (${messageOf(error)}); it was left untouched: repair or remove it`,
        { cause: error },
      );
    }
  }

  /**
   * Writes `value` atomically and durably. The value is serialised (and checked with `parse`) at call time, so later
   * mutation of it does not matter; a value that cannot be serialised or that `parse` refuses rejects at once and is
   * never written. Resolves once a write holding this value or a later one is durable; rejects when that write fails.
   */
  save(value: T): Promise<void> {
    let text: string;
    try {
      const json = JSON.stringify(value, null, 2);
      if (json === undefined) throw new TypeError('the value is not serialisable to JSON');
      this.parse(JSON.parse(json));
      text = `${json}\n`;
    } catch (error) {
      return Promise.reject(
        new JsonFileStoreError(this.path, `refusing to save ${this.path}: ${messageOf(error)}`, { cause: error }),
      );
    }
    if (this.pending) {
      this.pending.text = text;
      return this.pending.promise;
    }
    const batch = newBatch(text);
    this.pending = batch;
    if (!this.writing) void this.drain();
    return batch.promise;
  }

  /** Resolves when every save issued so far is durable; rejects if the last of them failed. */
  flush(): Promise<void> {
    return (this.pending ?? this.writing)?.promise ?? Promise.resolve();
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const batch = this.pending;
      this.pending = undefined;
      this.writing = batch;
      try {
        await this.write(batch.text);
        batch.resolve();
      } catch (error) {
        this.cleanupDue = true;
        batch.reject(error);
      }
    }
    this.writing = undefined;
  }

  private async write(text: string): Promise<void> {
    if (this.cleanupDue) {
      this.cleanupDue = false;
      await this.removeLeftovers();
    }
    const temp = join(this.dir, `.${this.base}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    inFlightTemps.add(temp);
    try {
      const file = await this.openTemp(temp);
      try {
        await file.writeFile(text, 'utf8');
        await file.chmod(this.fileMode);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, this.path);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    } finally {
      inFlightTemps.delete(temp);
    }
    await syncDir(this.dir);
  }

  private async openTemp(temp: string) {
    try {
      return await open(temp, 'wx', this.fileMode);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const created = await mkdir(this.dir, { recursive: true, mode: 0o700 });
    if (created !== undefined) {
      // Make the new directories' entries durable too, each in its parent (best effort: a parent may be unreadable).
      for (let dir = this.dir; ; dir = dirname(dir)) {
        await syncDir(dirname(dir)).catch(() => undefined);
        if (dir === created || dirname(dir) === dir) break;
      }
    }
    return await open(temp, 'wx', this.fileMode);
  }

  /** Best effort: temp files left by a crashed write. Those of another live process or of a write in flight stay. */
  private async removeLeftovers(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      const match = this.tempPattern.exec(name);
      if (!match) continue;
      const path = join(this.dir, name);
      const pid = Number(match[1]);
      if (pid === process.pid ? inFlightTemps.has(path) : isAlive(pid)) continue;
      await unlink(path).catch(() => undefined);
    }
  }
}

function newBatch(text: string): Batch {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { text, promise, resolve, reject };
}

async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    if (!dirSyncUnsupported.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    await handle?.close();
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
