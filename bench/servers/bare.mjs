// The baseline: a bare `ws` server with the gateway's options that does only the protocol work a client
// needs to finish the same exchanges, with no validation: it sends `connect.challenge` on open, answers a
// `connect` with a hello-ok serialised once at start, a `health` with a response serialised once at
// start (the request id spliced in), and when a tracked client (mode other than `cli`) joins or leaves it
// sends one pre-serialised presence buffer to every ready socket. The ratios actorgate / bare therefore
// isolate actorgate's own cost: actors, validation, authentication, bookkeeping.
//
//   node --expose-gc bench/servers/bare.mjs   (forked by bench/run.mjs)
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { WebSocketServer } from 'ws';
import { helloOk } from '../../dist/src/protocol/hello.js';
import { serveServer } from './control.mjs';

const PRE_AUTH_MAX_PAYLOAD = 64 * 1024;
const startedAt = Date.now();
const self = { host: hostname(), ip: '127.0.0.1', version: 'bench', platform: process.platform, mode: 'gateway', reason: 'self', ts: startedAt };

// A hello-ok of the gateway's own shape and size (its features, as the runner read them), serialised once.
const features = JSON.parse(process.env.BENCH_FEATURES ?? '{"methods":[],"events":[]}');
const helloPayload = JSON.stringify(
  helloOk({
    session: { protocol: 4, role: 'operator', scopes: ['operator.read'], client: { id: 'cli', version: '1', platform: 'linux', mode: 'cli' }, caps: [], commands: [], connectedAt: startedAt },
    connId: randomUUID(),
    bootId: randomUUID(),
    snapshot: { presence: [self], health: { ok: true }, stateVersion: { presence: 1, health: 1 }, uptimeMs: 0 },
    policy: { maxPayload: 25 * 1024 * 1024, maxBufferedBytes: 50 * 1024 * 1024, tickIntervalMs: 30_000 },
  }, features),
);
const healthPayload = JSON.stringify({ ok: true, ts: startedAt, durationMs: 0, version: 'bench', uptimeMs: 0, connections: { open: 0, ready: 0 } });
const okResponse = (id, payload) => `{"type":"res","id":${JSON.stringify(id)},"ok":true,"payload":${payload}}`;
const presenceFrame = Buffer.from(
  JSON.stringify({
    type: 'event',
    event: 'presence',
    payload: { presence: [{ host: 'ui', ip: '127.0.0.1', version: '1', platform: 'linux', mode: 'ui', reason: 'connect', ts: startedAt, roles: ['operator'], scopes: ['operator.read'] }, self] },
    stateVersion: { presence: 2, health: 1 },
  }),
);

// For development only (0 in every bench run): spin this long on each connect, to measure how much CPU per
// handshake a server may add for a given rate ratio (see bench/README.md, "Reading the handshake rows").
const SPIN_MS = Number(process.env.BENCH_BARE_SPIN_US ?? 0) / 1000;
function spin(ms) {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

// For development (bench/floor.mjs): the same server with one XState connection actor per socket.
const floor = process.env.BENCH_BARE_ACTORS === '1' ? await import('./actor-floor.mjs') : undefined;

let open = 0;
const ready = new Set();
const broadcastPresence = () => {
  for (const ws of ready) ws.send(presenceFrame, { binary: false });
};

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: PRE_AUTH_MAX_PAYLOAD, clientTracking: false });
const server = createServer((_request, response) => {
  response.writeHead(404);
  response.end();
});
server.on('upgrade', (request, socket, head) => {
  socket.on('error', () => {});
  wss.handleUpgrade(request, socket, head, (ws) => {
    open++;
    let tracked = false;
    const actor = floor?.connectionActor('127.0.0.1');
    ws.on('error', () => {});
    ws.on('close', (code) => {
      actor?.send({ type: 'socket.closed', code, reason: '' });
      open--;
      ready.delete(ws);
      if (tracked) broadcastPresence();
    });
    ws.on('message', (data) => {
      let frame;
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (frame.method === 'connect') {
        if (SPIN_MS > 0) spin(SPIN_MS);
        if (actor) floor.connected(actor, frame);
        ws.send(okResponse(frame.id, helloPayload));
        ready.add(ws);
        tracked = frame.params?.client?.mode !== 'cli';
        if (tracked) broadcastPresence();
      } else if (frame.method === 'health') {
        ws.send(okResponse(frame.id, healthPayload));
      }
    });
    ws.send(JSON.stringify({ type: 'event', event: 'connect.challenge', payload: { nonce: randomUUID(), ts: Date.now(), capabilities: [] } }));
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

serveServer({
  port: server.address().port,
  connections: () => open,
  close: () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
});
