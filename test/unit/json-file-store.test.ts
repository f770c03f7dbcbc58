// The JSON file store: loading, atomic saves, file modes, refusal of bad files, coalescing and temp-file cleanup.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { JsonFileStore, JsonFileStoreError } from '../../src/store/json-file-store.js';

// Counts what the store does on disk: renames, and writes in flight (temp opened, not yet renamed).
const io = vi.hoisted(() => ({ renames: 0, inFlight: 0, maxInFlight: 0, log: [] as string[] }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    open: async (...args: Parameters<typeof actual.open>) => {
      const handle = await actual.open(...args);
      const kind = args[1] === 'wx' ? 'temp' : args[1] === 'r' ? 'dir' : 'other';
      if (kind === 'temp') io.maxInFlight = Math.max(io.maxInFlight, ++io.inFlight);
      const sync = handle.sync.bind(handle);
      handle.sync = () => (io.log.push(`fsync ${kind}`), sync());
      return handle;
    },
    rename: async (...args: Parameters<typeof actual.rename>) => {
      try {
        await actual.rename(...args);
        io.renames++;
        io.log.push('rename');
      } finally {
        io.inFlight--;
      }
    },
  };
});

interface Pairing {
  version: 1;
  devices: { deviceId: string; counter: number }[];
}

function parsePairing(value: unknown): Pairing {
  const v = value as Pairing;
  if (typeof v !== 'object' || v === null || v.version !== 1 || !Array.isArray(v.devices)) {
    throw new Error('expected {version: 1, devices: [...]}');
  }
  for (const d of v.devices) {
    if (typeof d?.deviceId !== 'string' || typeof d.counter !== 'number') throw new Error('bad device record');
  }
  return v;
}

const root = mkdtempSync(join(tmpdir(), 'actorgate-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dir: string;
let caseNo = 0;
beforeEach(() => {
  dir = join(root, `case-${++caseNo}`);
  io.renames = 0;
  io.inFlight = 0;
  io.maxInFlight = 0;
  io.log = [];
});

function store(path = join(dir, 'pairing.json'), fileMode?: number) {
  return new JsonFileStore<Pairing>({
    path,
    empty: () => ({ version: 1, devices: [] }),
    parse: parsePairing,
    ...(fileMode === undefined ? {} : { fileMode }),
  });
}
const withDevices = (n: number): Pairing => ({
  version: 1,
  devices: Array.from({ length: n }, (_, i) => ({ deviceId: `dev-${i + 1}`, counter: i + 1 })),
});
const onDisk = (path = join(dir, 'pairing.json')) => JSON.parse(readFileSync(path, 'utf8')) as Pairing;

describe('JsonFileStore', () => {
  it('loads empty() when the file (or its directory) is missing, without creating anything', async () => {
    const s = store(join(dir, 'nested', 'pairing.json'));
    expect(await s.load()).toEqual({ version: 1, devices: [] });
    expect(() => statSync(dir)).toThrow();
  });

  it('round-trips a document, creating the directory 0700 and the file 0600', async () => {
    const path = join(dir, 'state', 'pairing.json');
    const s = store(path);
    await s.save(withDevices(3));
    expect(await store(path).load()).toEqual(withDevices(3));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
    // The new directory's entry made durable in its parent(s), then: data durable, rename, rename durable.
    expect(io.log.slice(-3)).toEqual(['fsync temp', 'rename', 'fsync dir']);
    io.log = [];
    await s.save(withDevices(1));
    expect(io.log).toEqual(['fsync temp', 'rename', 'fsync dir']);
    expect(await store(path).load()).toEqual(withDevices(1));
    expect(readdirSync(join(dir, 'state'))).toEqual(['pairing.json']);
  });

  it('sets the file mode exactly, whatever the umask', async () => {
    const path = join(dir, 'pairing.json');
    await store(path, 0o640).save(withDevices(1));
    expect(statSync(path).mode & 0o777).toBe(0o640);
    const old = process.umask(0o077);
    try {
      await store(path, 0o644).save(withDevices(2));
    } finally {
      process.umask(old);
    }
    expect(statSync(path).mode & 0o777).toBe(0o644);
  });

  it('refuses a corrupt file with an error naming it, and leaves it untouched', async () => {
    mkdirSync(dir);
    const path = join(dir, 'pairing.json');
    for (const garbage of ['{"version": 1, "devi', '', '\u0000\u0000\u0000']) {
      writeFileSync(path, garbage);
      const error = await store(path).load().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(JsonFileStoreError);
      expect((error as JsonFileStoreError).path).toBe(path);
      expect((error as Error).message).toContain(`${path} is not valid JSON`);
      expect(readFileSync(path, 'utf8')).toBe(garbage);
    }
  });

  it('refuses a well-formed file that parse() rejects, with the reason', async () => {
    mkdirSync(dir);
    const path = join(dir, 'pairing.json');
    writeFileSync(path, JSON.stringify({ version: 2, devices: [] }));
    await expect(store(path).load()).rejects.toThrow(
      `${path} holds an invalid document (expected {version: 1, devices: [...]})`,
    );
    writeFileSync(path, JSON.stringify({ version: 1, devices: [{ deviceId: 7 }] }));
    await expect(store(path).load()).rejects.toThrow(JsonFileStoreError);
  });

  it('refuses to save a value parse() rejects or JSON cannot hold, and writes nothing', async () => {
    const s = store();
    await s.save(withDevices(1));
    await expect(s.save({ version: 3 } as unknown as Pairing)).rejects.toThrow('refusing to save');
    await expect(s.save({ version: 1, devices: [], n: 1n } as unknown as Pairing)).rejects.toThrow(JsonFileStoreError);
    expect(onDisk()).toEqual(withDevices(1));
    expect(io.renames).toBe(1);
  });

  it('coalesces 50 unawaited saves into few serial writes; each resolves once its value (or a later) is durable', async () => {
    const s = store();
    const seenAtResolve: number[] = [];
    const saves = Array.from({ length: 50 }, (_, i) =>
      s.save(withDevices(i + 1)).then(() => seenAtResolve.push(onDisk().devices.length)),
    );
    await Promise.all(saves);
    expect(onDisk()).toEqual(withDevices(50));
    seenAtResolve.forEach((length, i) => expect(length).toBeGreaterThanOrEqual(i + 1));
    expect(io.renames).toBeLessThan(50);
    expect(io.renames).toBeGreaterThanOrEqual(1);
    expect(io.maxInFlight).toBe(1);

    // Saves issued while a write runs: still serial, still only the newest written next.
    io.renames = 0;
    const first = s.save(withDevices(1));
    const later = [s.save(withDevices(2)), s.save(withDevices(3)), s.save(withDevices(4))];
    await Promise.all([first, ...later]);
    expect(io.renames).toBe(2);
    expect(onDisk()).toEqual(withDevices(4));
  });

  it('flush() resolves when every save so far is durable; load() reads its own pending saves', async () => {
    const s = store();
    await s.flush();
    void s.save(withDevices(1));
    void s.save(withDevices(2));
    void s.save(withDevices(7));
    expect(await s.load()).toEqual(withDevices(7));
    void s.save(withDevices(8));
    await s.flush();
    expect(onDisk()).toEqual(withDevices(8));
  });

  it('ignores leftover temp files on load and removes those of dead writers on the next save', async () => {
    mkdirSync(dir);
    const path = join(dir, 'pairing.json');
    writeFileSync(path, JSON.stringify(withDevices(2)));
    const deadWriter = '.pairing.json.2147483646.0123456789ab.tmp';
    const ourOldWrite = `.pairing.json.${process.pid}.abcdefabcdef.tmp`;
    const liveWriter = `.pairing.json.${process.ppid}.feedfacefeed.tmp`;
    for (const name of [deadWriter, ourOldWrite, liveWriter]) writeFileSync(join(dir, name), '{"version": 1, "dev');
    writeFileSync(join(dir, 'unrelated.tmp'), 'x');

    const s = store(path);
    expect(await s.load()).toEqual(withDevices(2));
    expect(readdirSync(dir)).toHaveLength(5);
    await s.save(withDevices(3));
    expect(readdirSync(dir).sort()).toEqual([liveWriter, 'pairing.json', 'unrelated.tmp'].sort());
    expect(onDisk(path)).toEqual(withDevices(3));
  });

  it('rejects a save whose write fails, removes its temp file, and recovers on the next save', async () => {
    const path = join(dir, 'pairing.json');
    mkdirSync(path, { recursive: true }); // a directory where the file should be: rename fails
    await expect(store(path).save(withDevices(1))).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['pairing.json']);
    rmSync(path, { recursive: true });
    const s = store(path);
    await s.save(withDevices(2));
    expect(onDisk(path)).toEqual(withDevices(2));
  });
});
