// The README's "Use the machines elsewhere" example, run as written: the fenced block after
// `<!-- example: connection-machine -->` is saved unchanged as example.mjs in a temporary project whose
// node_modules/actorgate links to this clone (as `npm install /path/to/actorgate` would), then imported.
// It runs the built dist/ (`npm test` builds before it runs vitest).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyActorRef } from 'xstate';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MARKER = '<!-- example: connection-machine -->';

/** The code of the fenced block right after the marker. */
function exampleBlock(readme: string): string {
  const at = readme.indexOf(MARKER);
  if (at < 0) throw new Error(`README.md has no ${MARKER}`);
  const match = /^\n```js\n([\s\S]*?)^```$/m.exec(readme.slice(at + MARKER.length));
  if (!match || match.index !== 0) throw new Error(`no \`\`\`js block right after ${MARKER}`);
  return match[1]!;
}

interface FakeSocket {
  sent: string[];
  closes: { code: number; reason: string }[];
  send(text: string): void;
  close(code: number, reason: string): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  /** The peer hangs up: what a browser WebSocket dispatches. */
  peerClose(code: number, reason: string): void;
}

function fakeSocket(): FakeSocket {
  const listeners: ((event: { code: number; reason: string }) => void)[] = [];
  return {
    sent: [],
    closes: [],
    send(text) {
      this.sent.push(text);
    },
    close(code, reason) {
      this.closes.push({ code, reason });
    },
    addEventListener(_type, listener) {
      listeners.push(listener);
    },
    peerClose(code, reason) {
      for (const listener of listeners) listener({ code, reason });
    },
  };
}

type ServeHandshake = (socket: FakeSocket, handshakeTimeoutMs?: number) => AnyActorRef;

let dir: string;
let serveHandshake: ServeHandshake;

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/machines/connection.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  dir = mkdtempSync(join(tmpdir(), 'actorgate-readme-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'actorgate'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', 'xstate'), join(dir, 'node_modules', 'xstate'), 'dir');
  const file = join(dir, 'example.mjs');
  writeFileSync(file, exampleBlock(readFileSync(join(ROOT, 'README.md'), 'utf8')));
  ({ serveHandshake } = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as { serveHandshake: ServeHandshake });
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const settled = (actor: AnyActorRef) =>
  new Promise<void>((resolve) => {
    if (actor.getSnapshot().status === 'done') resolve();
    else actor.subscribe({ complete: () => resolve() });
  });

describe('the README example (connectionMachine outside the gateway)', () => {
  it('is the block after the marker, importing the package as another project would', () => {
    const block = exampleBlock(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    expect(block).toContain("from 'actorgate/dist/machines/connection.js'");
    expect(block).toContain('export function serveHandshake(');
  });

  it('sends connect.challenge with its nonce as soon as it starts', () => {
    const socket = fakeSocket();
    const actor = serveHandshake(socket);
    expect(socket.sent).toHaveLength(1);
    const challenge = JSON.parse(socket.sent[0]!) as { type: string; event: string; payload: { nonce: string } };
    expect(challenge).toMatchObject({ type: 'event', event: 'connect.challenge' });
    expect(challenge.payload.nonce).toBe(actor.getSnapshot().context.challengeNonce);
    expect(actor.getSnapshot().value).toEqual({ handshaking: 'awaitingConnect' });
    actor.stop();
  });

  it('closes the socket with 1008 handshake timeout when no connect comes in time', async () => {
    const socket = fakeSocket();
    const actor = serveHandshake(socket, 30);
    expect(socket.closes).toEqual([]);
    await settled(actor);
    expect(socket.closes).toEqual([{ code: 1008, reason: 'handshake timeout' }]);
    expect(actor.getSnapshot().context.closeCause).toMatchObject({ kind: 'handshake-timeout', by: 'gateway' });
  });

  it('ends as closed-before-connect when the peer hangs up first, without closing again', async () => {
    const socket = fakeSocket();
    const actor = serveHandshake(socket, 5_000);
    socket.peerClose(1001, 'going away');
    await settled(actor);
    expect(socket.closes).toEqual([]);
    expect(actor.getSnapshot().context.closeCause).toMatchObject({ kind: 'closed-before-connect', code: 1001, by: 'peer' });
  });
});
