// The model specs of the gateway's machines: a registry, one entry per machine.
import { SimulatedClock, createActor } from 'xstate';
import { connectionMachine, type ConnectionEvent, type ConnectionInput } from '../../machines/connection.js';
import type { ClientMode, ConnectParams, HandshakeRejection, Session } from '../../machines/protocol.js';
import { supervisorMachine, type SupervisorEvent, type SupervisorInput } from '../../machines/supervisor.js';
import { defineModel, type ModelSpec } from './graph.js';

function session(mode: ClientMode, deviceId?: string): Session {
  return {
    protocol: 4,
    role: 'operator',
    scopes: ['operator.read'],
    client: { id: `${mode}-client`, version: '1.0.0', platform: 'linux', mode },
    ...(deviceId ? { deviceId } : {}),
    caps: [],
    commands: [],
    connectedAt: 1_000,
  };
}

function connectParams(minProtocol: number, maxProtocol: number): ConnectParams {
  return { minProtocol, maxProtocol, client: { id: 'ui-client', version: '1.0.0', platform: 'linux', mode: 'ui' } };
}

const supervisorInput: SupervisorInput = { self: { reason: 'self', ts: 0 }, tickIntervalMs: 30_000 };

/** A real supervisor for the connection to report to; its clock is simulated so it arms no real timer. */
function startSupervisor() {
  return createActor(supervisorMachine, { id: 'supervisor', input: supervisorInput, clock: new SimulatedClock() }).start();
}

function connectionInput(overrides: Partial<ConnectionInput>): () => ConnectionInput {
  return () => ({
    connId: 'conn-1',
    remoteAddr: '203.0.113.7',
    isLoopback: false,
    challengeNonce: 'nonce-1',
    openedAt: 1_000,
    handshakeTimeoutMs: 10_000,
    supervisor: startSupervisor(),
    ...overrides,
  });
}

const rejection: HandshakeRejection = {
  error: { code: 'INVALID_REQUEST', message: 'unauthorized: gateway token mismatch', details: { code: 'AUTH_TOKEN_MISMATCH' } },
  closeCode: 1008,
  closeReason: 'unauthorized: gateway token mismatch',
};

const connectionEvents: ConnectionEvent[] = [
  { type: 'frame.connect', id: 'connect-v3-4', params: connectParams(3, 4) },
  { type: 'frame.connect', id: 'connect-v5-6', params: connectParams(5, 6) },
  { type: 'frame.connectInvalid', id: 'connect-invalid', message: 'client is required' },
  { type: 'frame.request', id: 'health-1', method: 'health' },
  { type: 'frame.malformed', id: 'malformed-1', message: 'params must be an object' },
  { type: 'frame.malformed', message: 'not JSON' },
  { type: 'frame.tooLarge', bytes: 70_000, limit: 65_536 },
  { type: 'socket.error', message: 'ECONNRESET' },
  { type: 'socket.closed', code: 1006, reason: '' },
  { type: 'auth.passed', session: session('ui') },
  { type: 'auth.failed', rejection },
  { type: 'gateway.shutdown', reason: 'restart', restartExpectedMs: 5_000 },
];

const connectionModel = defineModel({
  name: 'connection',
  machine: connectionMachine,
  inputs: [
    { name: 'remote client', create: connectionInput({}) },
    {
      name: 'loopback swiftpm helper',
      create: connectionInput({ remoteAddr: '127.0.0.1', isLoopback: true, userAgent: 'SwiftPM-Testing-Helper/6.1' }),
    },
  ],
  events: () => connectionEvents,
  provideEffects: (record) =>
    connectionMachine.provide({
      actions: {
        sendFrame: (_, frame) => record('sendFrame', frame),
        closeSocket: (_, close) => record('closeSocket', close),
        terminateSocket: () => record('terminateSocket'),
        log: (_, entry) => record('log', entry),
        checkCredentials: (_, request) => record('checkCredentials', request),
        sendHelloOk: () => record('sendHelloOk'),
        dispatchRequest: (_, request) => record('dispatchRequest', request),
        releaseConnection: () => record('releaseConnection'),
      },
    }),
});

/** A cli-mode client (never in presence), and one device connecting twice: the second takes its entry over. */
const joins = [
  { connId: 'cli-1', session: session('cli') },
  { connId: 'device-old', session: session('ui', 'device-1') },
  { connId: 'device-new', session: session('ui', 'device-1') },
];

const supervisorModel = defineModel({
  name: 'supervisor',
  machine: supervisorMachine,
  inputs: [
    { name: 'default cap', create: () => supervisorInput },
    { name: 'presence cap 1', create: () => ({ ...supervisorInput, maxPresenceEntries: 1 }) },
  ],
  events: ({ context }): SupervisorEvent[] => [
    ...joins
      .filter(({ connId }) => !context.connections.has(connId))
      .map(({ connId, session }) => ({ type: 'connection.joined' as const, connId, remoteAddr: '127.0.0.1', session })),
    ...[...context.connections.keys()].map((connId) => ({ type: 'connection.left' as const, connId })),
  ],
  // Who is connected and who owns which presence entry; the state version only ever grows.
  contextKey: ({ connections, presence }) => ({
    connections,
    presence: [...presence].map(([key, slot]) => [key, slot.connId]),
  }),
});

export const models: ModelSpec[] = [connectionModel, supervisorModel];
