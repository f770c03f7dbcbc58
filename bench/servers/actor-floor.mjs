// What an XState connection actor per socket costs by itself: the gateway's own connection machine and
// supervisor, with every effect left as the machines' no-op default (no validation, no authentication, no
// writes: the bare server still does those its own way). bench/servers/bare.mjs loads this with
// BENCH_BARE_ACTORS=1, and bench/floor.mjs compares bare, bare with these actors, and actorgate.
import { hostname } from 'node:os';
import { createActor, fromTransition } from 'xstate';
import { connectionMachine } from '../../dist/machines/connection.js';
import { EMPTY_PAIRING_STATE } from '../../dist/machines/pairing.js';
import { supervisorMachine } from '../../dist/machines/supervisor.js';
import { indexScheduledEvents } from '../../dist/src/actors/scheduler-index.js';

const self = { host: hostname(), ip: '127.0.0.1', version: 'bench', platform: process.platform, mode: 'gateway', reason: 'self', ts: Date.now() };
const supervisor = createActor(supervisorMachine, {
  input: { self, tickIntervalMs: 30_000, pairingMode: 'auto-local', pairing: EMPTY_PAIRING_STATE },
}).start();
// Connection actors share one system under a host, with its delayed events indexed, as in the gateway.
const host = createActor(fromTransition((state) => state, null)).start();
indexScheduledEvents(host.system);
let next = 0;

/** A started connection actor for a socket just opened; the bare server sends it the socket's events. */
export function connectionActor(remoteAddr) {
  const connId = `c${next++}`;
  return createActor(connectionMachine, {
    input: { connId, remoteAddr, isLoopback: true, challengeNonce: connId, openedAt: Date.now(), handshakeTimeoutMs: 10_000, supervisor },
    parent: host,
  }).start();
}

/** The connect frame, then a passed credential check: the actor becomes ready and joins the supervisor. */
export function connected(actor, frame) {
  const params = frame.params ?? {};
  actor.send({ type: 'frame.connect', id: frame.id, params });
  const session = {
    protocol: 4,
    role: params.role ?? 'operator',
    scopes: params.scopes ?? [],
    client: params.client,
    caps: params.caps ?? [],
    commands: params.commands ?? [],
    connectedAt: Date.now(),
  };
  actor.send({ type: 'auth.passed', session });
}
