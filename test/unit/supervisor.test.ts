// The supervisor with real invoke actors, run as the gateway runs them (src/supervisor/invokes.ts): invokes
// from request to their single answer and the cancels their nodes are sent, the caps, node reconnects, node and
// device pairing. Time is simulated, ids count up, emitted events are collected.
import { describe, expect, it } from 'vitest';
import { SimulatedClock, createActor } from 'xstate';
import { describeNode, nodeIdClaimRefusal } from '../../machines/nodes.js';
import { pairingStateOf, type PairedNode } from '../../machines/pairing.js';
import type { Session } from '../../machines/protocol.js';
import type { NodeInvokeCancel } from '../../machines/invoke.js';
import { supervisorMachine, type SupervisorEmitted, type SupervisorEvent, type SupervisorInput } from '../../machines/supervisor.js';
import { InvokeRunner } from '../../src/supervisor/invokes.js';

const T0 = 1_700_000_000_000;
const TTL_MS = 60_000;

/**
 * A supervisor under test. Unless `saves: 'manual'`, every pairing change is reported saved at once
 * (as the runtime does once its write is durable), so what waits for it comes right after.
 */
function start(input: Partial<SupervisorInput> = {}, { saves = 'immediate' }: { saves?: 'immediate' | 'manual' } = {}) {
  const clock = new SimulatedClock();
  let lastId = 0;
  const actor = createActor(supervisorMachine, {
    clock,
    input: {
      self: { reason: 'self', ts: 0 },
      // Far away, so that no tick shows up among the events under test.
      tickIntervalMs: 24 * 3_600_000,
      pairingRequestTtlMs: TTL_MS,
      now: () => T0 + clock.now(),
      createId: () => `id-${++lastId}`,
      ...input,
    },
  });
  const emitted: SupervisorEmitted[] = [];
  const cancels: Array<{ nodeConnId: string } & NodeInvokeCancel> = [];
  const invokes = new InvokeRunner({
    report: (event) => actor.send(event),
    tellNodeToCancel: (nodeConnId, cancel) => void cancels.push({ nodeConnId, ...cancel }),
    onActorError: (_invokeId, error) => {
      throw error;
    },
    clock,
  });
  // What the runtime does with the invoke effects; the tests read the rest.
  actor.on('invoke.start', ({ input }) => invokes.start(input));
  actor.on('invoke.signal', ({ invokeId, event }) => invokes.signal(invokeId, event));
  actor.on('*', (event) => void (event.type !== 'invoke.start' && event.type !== 'invoke.signal' && emitted.push(event)));
  if (saves === 'immediate') actor.on('pairing.changed', ({ revision }) => actor.send({ type: 'pairing.persisted', revision }));
  actor.start();
  return {
    actor,
    clock,
    context: () => actor.getSnapshot().context,
    send: (event: SupervisorEvent) => actor.send(event),
    invokes,
    /** What was emitted since the last call (but the invoke effects, carried out above). */
    take: () => emitted.splice(0),
    /** The node.invoke.cancel events sent since the last call, with the connection each went to. */
    takeCancels: () => cancels.splice(0),
    cancelsSent: () => cancels.length,
  };
}

type Supervisor = ReturnType<typeof start>;

function nodeSession(nodeId = 'node-1', commands = ['system.run']): Session {
  return {
    protocol: 4,
    role: 'node',
    scopes: [],
    client: { id: 'node-host', displayName: 'build box', version: '2.0.0', platform: 'linux', mode: 'node' },
    deviceId: nodeId,
    caps: ['system'],
    commands,
    connectedAt: T0,
  };
}

function operatorSession(deviceId?: string, mode: Session['client']['mode'] = 'ui'): Session {
  return {
    protocol: 4,
    role: 'operator',
    scopes: ['operator.admin'],
    client: { id: 'control-ui', version: '2.0.0', platform: 'web', mode },
    ...(deviceId ? { deviceId } : {}),
    caps: [],
    commands: [],
    connectedAt: T0,
  };
}

const pairedNode = (nodeId = 'node-1'): PairedNode => ({
  nodeId,
  idKind: 'device',
  clientId: 'node-host',
  clientMode: 'node',
  caps: ['system'],
  commands: ['system.run'],
  createdAtMs: T0 - 1_000,
  approvedAtMs: T0 - 1_000,
  silent: false,
});

function joinNode(s: Supervisor, connId: string, options: { nodeId?: string; isLocalClient?: boolean } = {}) {
  s.send({
    type: 'connection.joined',
    connId,
    remoteAddr: options.isLocalClient ? '127.0.0.1' : '203.0.113.9',
    session: nodeSession(options.nodeId),
    isLocalClient: options.isLocalClient ?? false,
  });
}

const OPERATOR = { connId: 'op', requestId: 'op-req' };

function requestInvoke(s: Supervisor, overrides: Partial<Extract<SupervisorEvent, { type: 'node.invoke.requested' }>> = {}) {
  s.send({ type: 'node.invoke.requested', nodeId: 'node-1', command: 'system.run', paramsJSON: '{"command":["uname"]}', timeoutMs: 5_000, ...OPERATOR, ...overrides });
}

function nodeResult(connId: string, invokeId: string, result: { ok: boolean; payloadJSON?: string; error?: { code?: string; message?: string } }, nodeId = 'node-1') {
  return { type: 'node.invoke.result' as const, connId, requestId: 'node-req', invokeId, nodeId, ...result };
}

/** A supervisor with node-1 paired (from the last run) and connected as `node-a`. */
function withConnectedNode() {
  const s = start({ pairing: { version: 1, devices: [], nodes: [pairedNode()] } });
  joinNode(s, 'node-a');
  s.take();
  return s;
}

const callerReply = (s: Supervisor) => s.take().filter((event) => event.type === 'reply' && event.connId === 'op');

describe('supervisor invokes, with real invoke actors', () => {
  it('delivers the request to the node and answers the caller with its payload', () => {
    const s = withConnectedNode();
    requestInvoke(s, { idempotencyKey: 'key-1' });
    expect(s.take()).toEqual([
      {
        type: 'deliver',
        connId: 'node-a',
        event: 'node.invoke.request',
        payload: { id: 'id-1', nodeId: 'node-1', command: 'system.run', paramsJSON: '{"command":["uname"]}', timeoutMs: 5_000, idempotencyKey: 'key-1' },
      },
    ]);
    expect(s.invokes.size).toBe(1);

    s.send(nodeResult('node-a', 'id-1', { ok: true, payloadJSON: '{"stdout":"Linux"}' }));
    expect(s.take()).toEqual([
      { type: 'reply', connId: 'node-a', requestId: 'node-req', ok: true, payload: { ok: true } },
      {
        type: 'reply',
        connId: 'op',
        requestId: 'op-req',
        ok: true,
        payload: { ok: true, nodeId: 'node-1', command: 'system.run', payload: { stdout: 'Linux' }, payloadJSON: '{"stdout":"Linux"}' },
      },
    ]);
    expect(s.context().invokes.size).toBe(0);
    expect(s.context().invokesByNodeConn.size).toBe(0);
    expect(s.invokes.size).toBe(0);
  });

  it('answers null when the node sends no payload, and UNAVAILABLE with its error when it fails', () => {
    const s = withConnectedNode();
    requestInvoke(s);
    s.send(nodeResult('node-a', 'id-1', { ok: true }));
    expect(callerReply(s)).toEqual([
      { type: 'reply', connId: 'op', requestId: 'op-req', ok: true, payload: { ok: true, nodeId: 'node-1', command: 'system.run', payload: null } },
    ]);
    requestInvoke(s, { requestId: 'op-req-2' });
    s.send(nodeResult('node-a', 'id-2', { ok: false, error: { code: 'EXEC_FAILED', message: 'exit code 1' } }));
    expect(callerReply(s)).toEqual([
      {
        type: 'reply',
        connId: 'op',
        requestId: 'op-req-2',
        ok: false,
        error: {
          code: 'UNAVAILABLE',
          message: 'EXEC_FAILED: exit code 1',
          details: { nodeError: { code: 'EXEC_FAILED', message: 'exit code 1' }, nodeCommandDispatched: true },
        },
      },
    ]);
  });

  it('times out at the given timeoutMs with the reference shape: UNAVAILABLE "TIMEOUT: node invoke timed out"', () => {
    const s = withConnectedNode();
    requestInvoke(s, { timeoutMs: 5_000 });
    s.take();
    s.clock.increment(4_999);
    expect(s.take()).toEqual([]);
    s.clock.increment(1);
    expect(s.take()).toEqual([
      {
        type: 'reply',
        connId: 'op',
        requestId: 'op-req',
        ok: false,
        error: {
          code: 'UNAVAILABLE',
          message: 'TIMEOUT: node invoke timed out',
          details: { nodeError: { code: 'TIMEOUT', message: 'node invoke timed out' }, nodeCommandDispatched: true },
        },
      },
    ]);
    expect(s.context().invokes.size).toBe(0);
    expect(s.invokes.size).toBe(0);
  });

  it('fails the invoke with UNAVAILABLE as soon as its node disconnects, without waiting for the timeout', () => {
    const s = withConnectedNode();
    requestInvoke(s);
    s.take();
    s.send({ type: 'connection.left', connId: 'node-a' });
    expect(callerReply(s)).toEqual([
      {
        type: 'reply',
        connId: 'op',
        requestId: 'op-req',
        ok: false,
        error: {
          code: 'UNAVAILABLE',
          message: 'DISCONNECTED: node disconnected (system.run)',
          details: { nodeError: { code: 'DISCONNECTED', message: 'node disconnected (system.run)' }, nodeCommandDispatched: true },
          retryable: true,
        },
      },
    ]);
    expect(s.context().invokes.size).toBe(0);
    expect(s.context().invokesByNodeConn.size).toBe(0);
    s.clock.increment(60_000);
    expect(s.take()).toEqual([]);
  });

  it('acknowledges a result that comes after the invoke settled, and ignores it', () => {
    const s = withConnectedNode();
    requestInvoke(s, { timeoutMs: 1_000 });
    s.clock.increment(1_000);
    s.take();
    s.send(nodeResult('node-a', 'id-1', { ok: true, payloadJSON: '{}' }));
    expect(s.take()).toEqual([{ type: 'reply', connId: 'node-a', requestId: 'node-req', ok: true, payload: { ok: true, ignored: true } }]);
  });

  it('rejects a result from another node connection and still takes the right one', () => {
    const s = withConnectedNode();
    joinNode(s, 'node-b', { nodeId: 'node-2' });
    requestInvoke(s);
    const [invokeId] = [...s.context().invokes.keys()];
    s.take();
    s.send(nodeResult('node-b', invokeId!, { ok: true, payloadJSON: '{"forged":true}' }, 'node-2'));
    expect(s.take()).toEqual([
      {
        type: 'reply',
        connId: 'node-b',
        requestId: 'node-req',
        ok: false,
        error: { code: 'INVALID_REQUEST', message: `invoke ${invokeId} was not sent to this node`, details: { code: 'NODE_MISMATCH', invokeId } },
      },
    ]);
    expect(s.context().invokes.has(invokeId!)).toBe(true);
    s.send(nodeResult('node-a', invokeId!, { ok: true, payloadJSON: '{"real":true}' }));
    expect(callerReply(s)).toMatchObject([{ ok: true, payload: { payload: { real: true } } }]);
  });

  it('refuses invokes on a node that is not connected, not approved, or for a command it was not approved for', () => {
    const s = start({ pairingMode: 'manual' });
    requestInvoke(s);
    expect(s.take()).toMatchObject([
      { type: 'reply', ...OPERATOR, ok: false, error: { code: 'UNAVAILABLE', message: 'node not connected', details: { nodeId: 'node-1' } } },
    ]);
    joinNode(s, 'node-a');
    s.take();
    requestInvoke(s);
    expect(s.take()).toMatchObject([{ ok: false, error: { code: 'NOT_PAIRED', details: { code: 'NODE_NOT_APPROVED', nodeId: 'node-1', requestId: 'id-1' } } }]);
    s.send({ type: 'node.pair.approve', pairRequestId: 'id-1', ...OPERATOR });
    s.take();
    requestInvoke(s, { command: 'camera.snap' });
    expect(s.take()).toMatchObject([
      { ok: false, error: { code: 'INVALID_REQUEST', details: { code: 'COMMAND_NOT_ALLOWED', command: 'camera.snap', allowed: ['system.run'] } } },
    ]);
    expect(s.invokes.size).toBe(0);
  });
});

describe('supervisor invokes: cancels to the node', () => {
  const CANCEL = { nodeConnId: 'node-a', invokeId: 'id-1', nodeId: 'node-1' };

  it('tells the node to cancel an invoke that timed out, before the caller is answered', () => {
    const s = withConnectedNode();
    requestInvoke(s, { timeoutMs: 1_000 });
    s.take();
    let cancelsAtAnswer = -1;
    s.actor.on('reply', () => void (cancelsAtAnswer = s.cancelsSent()));
    s.clock.increment(1_000);
    expect(s.takeCancels()).toEqual([CANCEL]);
    expect(cancelsAtAnswer).toBe(1);
    expect(s.invokes.size).toBe(0);
  });

  it('sends no cancel when the node answered, or when it is gone', () => {
    const s = withConnectedNode();
    requestInvoke(s);
    s.send(nodeResult('node-a', 'id-1', { ok: true }));
    requestInvoke(s, { requestId: 'op-req-2' });
    s.send({ type: 'connection.left', connId: 'node-a' });
    expect(callerReply(s)).toHaveLength(2);
    s.clock.increment(60_000);
    expect(s.takeCancels()).toEqual([]);
  });

  it("ends a caller's invokes when it disconnects, tells their node, and leaves other callers' alone", () => {
    const s = withConnectedNode();
    requestInvoke(s);
    requestInvoke(s, { requestId: 'op-req-2' });
    requestInvoke(s, { connId: 'op-2', requestId: 'other-req' });
    s.take();
    s.send({ type: 'connection.left', connId: 'op' });
    expect(s.takeCancels()).toEqual([CANCEL, { ...CANCEL, invokeId: 'id-2' }]);
    // Nobody reads these answers; they settle the requests the runtime is waiting on.
    expect(s.take()).toMatchObject([
      { type: 'reply', connId: 'op', requestId: 'op-req', ok: false, error: { code: 'UNAVAILABLE', message: 'ABORTED: node invoke cancelled' } },
      { type: 'reply', connId: 'op', requestId: 'op-req-2', ok: false, error: { code: 'UNAVAILABLE', message: 'ABORTED: node invoke cancelled' } },
    ]);
    expect([...s.context().invokes.keys()]).toEqual(['id-3']);
    expect(s.context().invokesByCaller.has('op')).toBe(false);
    s.send(nodeResult('node-a', 'id-3', { ok: true }));
    expect(s.take()).toMatchObject([{ connId: 'node-a' }, { connId: 'op-2', requestId: 'other-req', ok: true }]);
  });

  it("ends the invokes on a node whose approval is removed, telling the node before its connection is revoked", () => {
    const s = withConnectedNode();
    requestInvoke(s);
    s.take();
    let cancelsAtRevoke = -1;
    s.actor.on('credentials.revoked', () => void (cancelsAtRevoke = s.cancelsSent()));
    s.send({ type: 'node.pair.remove', nodeId: 'node-1', ...OPERATOR });
    expect(cancelsAtRevoke).toBe(1);
    expect(s.takeCancels()).toEqual([CANCEL]);
    expect(callerReply(s)).toContainEqual({
      type: 'reply',
      ...OPERATOR,
      ok: false,
      error: {
        code: 'UNAVAILABLE',
        message: 'PAIRING_CHANGED: node pairing changed after dispatch',
        details: { nodeError: { code: 'PAIRING_CHANGED', message: 'node pairing changed after dispatch' }, nodeCommandDispatched: true },
      },
    });
    expect(s.context().invokes.size).toBe(0);
  });

  it('tells the node to cancel every invoke in flight when the gateway shuts down', () => {
    const s = withConnectedNode();
    requestInvoke(s);
    requestInvoke(s, { requestId: 'op-req-2' });
    s.send({ type: 'gateway.shutdown', reason: 'restart' });
    expect(s.takeCancels()).toEqual([CANCEL, { ...CANCEL, invokeId: 'id-2' }]);
    expect(s.invokes.size).toBe(0);
  });
});

describe('supervisor invokes: caps on what is in flight', () => {
  const overLimit = (limit: string, max: number) => ({
    type: 'reply',
    ok: false,
    error: { code: 'UNAVAILABLE', retryable: true, details: { code: 'TOO_MANY_INVOKES', limit, max, nodeId: 'node-1' } },
  });

  it('refuses a caller over its cap, retryable, and takes it again once one is answered', () => {
    const s = start({ pairing: { version: 1, devices: [], nodes: [pairedNode()] }, invokeLimits: { perCaller: 2, perNode: 0, total: 0 } });
    joinNode(s, 'node-a');
    requestInvoke(s);
    requestInvoke(s, { requestId: 'op-req-2' });
    s.take();
    requestInvoke(s, { requestId: 'op-req-3' });
    expect(s.take()).toMatchObject([{ ...overLimit('perCaller', 2), requestId: 'op-req-3' }]);
    expect(s.take()).toEqual([]);
    requestInvoke(s, { connId: 'op-2', requestId: 'other-req' });
    expect(s.take()).toMatchObject([{ type: 'deliver', event: 'node.invoke.request' }]);
    s.send(nodeResult('node-a', 'id-1', { ok: true }));
    s.take();
    requestInvoke(s, { requestId: 'op-req-4' });
    expect(s.take()).toMatchObject([{ type: 'deliver', event: 'node.invoke.request' }]);
    expect(s.invokes.size).toBe(3);
  });

  it('refuses over the cap per node and over the cap in all', () => {
    const perNode = start({ pairing: { version: 1, devices: [], nodes: [pairedNode()] }, invokeLimits: { perCaller: 0, perNode: 1, total: 0 } });
    joinNode(perNode, 'node-a');
    requestInvoke(perNode);
    perNode.take();
    requestInvoke(perNode, { connId: 'op-2' });
    expect(perNode.take()).toMatchObject([overLimit('perNode', 1)]);

    const total = start({ pairing: { version: 1, devices: [], nodes: [pairedNode()] }, invokeLimits: { perCaller: 0, perNode: 0, total: 1 } });
    joinNode(total, 'node-a');
    requestInvoke(total);
    total.take();
    requestInvoke(total, { connId: 'op-2' });
    expect(total.take()).toMatchObject([overLimit('total', 1)]);
    expect(total.context().invokes.size).toBe(1);
  });
});

describe('supervisor node reconnects', () => {
  it("keeps the node on its new connection when the old one's close comes late", () => {
    const s = withConnectedNode();
    requestInvoke(s);
    joinNode(s, 'node-b');
    expect(s.context().nodeConnById.get('node-1')).toBe('node-b');
    s.take();

    s.send({ type: 'connection.left', connId: 'node-a' });
    expect(s.context().nodeConnById.get('node-1')).toBe('node-b');
    expect([...s.context().nodes.keys()]).toEqual(['node-b']);
    // The invoke sent to the old connection cannot be answered any more; the node is still there.
    expect(callerReply(s)).toMatchObject([{ ok: false, error: { code: 'UNAVAILABLE', message: 'DISCONNECTED: node disconnected (system.run)' } }]);

    requestInvoke(s, { requestId: 'op-req-2' });
    expect(s.take()).toMatchObject([{ type: 'deliver', connId: 'node-b', event: 'node.invoke.request', payload: { id: 'id-2' } }]);
    s.send({ type: 'connection.left', connId: 'node-b' });
    expect(s.context().nodeConnById.has('node-1')).toBe(false);
    expect(s.context().nodeLastSeen.get('node-1')).toBe(T0);
  });
});

describe('supervisor node identity', () => {
  /** A node without a device identity: its node id is the client id it chose. */
  function clientChosenSession(clientId: string): Session {
    const { deviceId: _deviceId, ...session } = nodeSession();
    return { ...session, client: { ...session.client, id: clientId } };
  }

  it('keeps device ids for devices: a client-chosen id of that form is refused, whatever is connected', () => {
    const s = start();
    const deviceLike = 'a'.repeat(64);
    expect(nodeIdClaimRefusal(s.context(), clientChosenSession(deviceLike))).toEqual({
      code: 'NODE_ID_RESERVED',
      nodeId: deviceLike,
      message: `node id ${deviceLike} is a device id: only that device, proving its key, may use it`,
      closeReason: 'node id reserved',
    });
    expect(nodeIdClaimRefusal(s.context(), clientChosenSession('A'.repeat(64)))).toBeUndefined();
    expect(nodeIdClaimRefusal(s.context(), nodeSession(deviceLike))).toBeUndefined();
    expect(nodeIdClaimRefusal(s.context(), { ...clientChosenSession(deviceLike), role: 'operator' })).toBeUndefined();
    // A second connection of the same identity shares the id.
    joinNode(s, 'node-a');
    expect(nodeIdClaimRefusal(s.context(), nodeSession())).toBeUndefined();
  });

  it('falls back to the older connection of the same identity when the newer one leaves', () => {
    const s = withConnectedNode();
    joinNode(s, 'node-b');
    s.send({ type: 'connection.left', connId: 'node-b' });
    expect(s.context().nodeConnById.get('node-1')).toBe('node-a');
    expect(s.context().nodeConnsById.get('node-1')).toEqual(new Set(['node-a']));
    s.take();
    requestInvoke(s);
    expect(s.take()).toMatchObject([{ type: 'deliver', connId: 'node-a', event: 'node.invoke.request' }]);
    // Still connected, so not seen last at the newer one's leave.
    expect(s.context().nodeLastSeen.get('node-1')).toBe(T0);
    s.send({ type: 'connection.left', connId: 'node-a' });
    expect(s.context().nodeConnsById.has('node-1')).toBe(false);
  });

  it('refuses a join that claims a node id live connections of another identity speak for, and routes nothing to it', () => {
    // Not approved yet: only the live connection holds the id.
    const s = start({ pairingMode: 'manual' });
    joinNode(s, 'node-a');
    s.take();
    // The handshake refuses this first; two handshakes at once can race past it, and the supervisor holds.
    s.send({ type: 'connection.joined', connId: 'impostor', remoteAddr: '203.0.113.66', session: clientChosenSession('node-1') });
    expect(s.take().filter((event) => event.type !== 'presence.changed')).toEqual([
      { type: 'credentials.revoked', connIds: ['impostor'], reason: 'node id in use' },
    ]);
    expect(s.context().nodes.has('impostor')).toBe(false);
    expect(s.context().nodeConnById.get('node-1')).toBe('node-a');
    s.send({ type: 'connection.left', connId: 'impostor' });
    expect(s.context().nodeConnById.get('node-1')).toBe('node-a');
  });

  it('refuses an approved device node id to a connection without the device key, and keeps routing to the node', () => {
    const s = withConnectedNode();
    s.send({ type: 'connection.joined', connId: 'impostor', remoteAddr: '203.0.113.66', session: clientChosenSession('node-1') });
    expect(s.take().filter((event) => event.type !== 'presence.changed')).toEqual([
      { type: 'credentials.revoked', connIds: ['impostor'], reason: 'node id reserved' },
    ]);
    requestInvoke(s);
    expect(s.take()).toMatchObject([{ type: 'deliver', connId: 'node-a' }]);
    s.send({ type: 'connection.left', connId: 'impostor' });
    expect(s.context().nodeConnById.get('node-1')).toBe('node-a');
  });

  it('gives an approval only to the identity it was given to', () => {
    // An approval saved for a client-chosen id; the same id proven as a device id is not that node.
    const s = start({ pairing: { version: 1, devices: [], nodes: [{ ...pairedNode(), idKind: 'client' }] } });
    joinNode(s, 'node-a');
    expect(s.take().filter((event) => event.type === 'credentials.revoked')).toEqual([
      { type: 'credentials.revoked', connIds: ['node-a'], reason: 'node id reserved' },
    ]);
    expect(s.context().nodes.size).toBe(0);
  });
});

describe('supervisor node pairing', () => {
  function withPendingNode() {
    const s = start({ pairingMode: 'manual' });
    joinNode(s, 'node-a');
    return s;
  }

  const request = {
    requestId: 'id-1',
    nodeId: 'node-1',
    idKind: 'device',
    clientId: 'node-host',
    clientMode: 'node',
    displayName: 'build box',
    platform: 'linux',
    version: '2.0.0',
    caps: ['system'],
    commands: ['system.run'],
    remoteIp: '203.0.113.9',
    ts: T0,
  };

  it('approves only the part of the declared surface it is given, and never a command the node did not declare', () => {
    const s = withPendingNode();
    s.take();
    s.send({ type: 'node.pair.approve', pairRequestId: 'id-1', commands: ['camera.snap', 'fs.listDir'], ...OPERATOR });
    expect(s.context().pairedNodes.get('node-1')?.commands).toEqual([]);
    expect([...s.context().pendingNodePairs.keys()]).toEqual([]);
  });

  it('takes host stats only from the connection that speaks for the node id, and announces them', () => {
    const s = withPendingNode();
    joinNode(s, 'node-b');
    s.take();
    const stats = { cpuCount: 2, memoryTotalBytes: 8, memoryFreeBytes: 4 };
    s.send({ type: 'node.hostStats.reported', stats, connId: 'node-a', requestId: 'stats-a' });
    expect(s.take()).toEqual([
      { type: 'reply', connId: 'node-a', requestId: 'stats-a', ok: true, payload: { ok: true, event: 'node.host.stats', handled: false, reason: 'stale_connection' } },
    ]);
    expect(s.context().nodeHostStats.size).toBe(0);
    s.send({ type: 'node.hostStats.reported', stats, connId: 'node-b', requestId: 'stats-b' });
    expect(s.take()).toEqual([
      { type: 'broadcast', audience: 'operator.read', event: 'node.hostStats', payload: { nodeId: 'node-1', hostStats: { ...stats, updatedAtMs: T0 } } },
      { type: 'reply', connId: 'node-b', requestId: 'stats-b', ok: true, payload: { ok: true, event: 'node.host.stats', handled: true, reason: 'updated' } },
    ]);
    expect(describeNode(s.context(), 'node-1')?.hostStats).toEqual({ ...stats, updatedAtMs: T0 });
  });

  it('opens a request for operators when a node joins under manual pairing', () => {
    const s = withPendingNode();
    expect(s.take().filter((event) => event.type !== 'presence.changed')).toEqual([
      { type: 'broadcast', audience: 'operator.pairing', event: 'node.pair.requested', payload: request },
    ]);
    expect([...s.context().pendingNodePairs.values()]).toEqual([request]);
    // The node reconnecting refreshes its request rather than opening a second one.
    joinNode(s, 'node-b');
    expect(s.take().filter((event) => event.type !== 'presence.changed')).toEqual([]);
    expect([...s.context().pendingNodePairs.keys()]).toEqual(['id-1']);
  });

  it('approves: pairs the node, answers the operator, tells operators and the node', () => {
    const s = withPendingNode();
    s.take();
    s.clock.increment(1_000);
    s.send({ type: 'node.pair.approve', pairRequestId: 'id-1', ...OPERATOR });
    const node = { ...request, createdAtMs: T0 + 1_000, approvedAtMs: T0 + 1_000, silent: false } as Record<string, unknown>;
    delete node.requestId;
    delete node.ts;
    delete node.remoteIp; // where a request came from is not kept with the pairing
    const resolved = { requestId: 'id-1', nodeId: 'node-1', decision: 'approved', ts: T0 + 1_000 };
    expect(pairingStateOf(s.context())).toEqual({ version: 1, devices: [], nodes: [node] });
    expect(s.take()).toEqual([
      { type: 'pairing.changed', revision: 1 },
      { type: 'reply', ...OPERATOR, ok: true, payload: { requestId: 'id-1', node } },
      { type: 'broadcast', audience: 'operator.pairing', event: 'node.pair.resolved', payload: resolved },
      { type: 'deliver', connId: 'node-a', event: 'node.pair.resolved', payload: resolved },
    ]);
    expect(s.context().pendingNodePairs.size).toBe(0);
    // The expiry was cancelled with the request.
    s.clock.increment(TTL_MS);
    expect(s.take()).toEqual([]);
  });

  it('rejects: answers the operator, tells operators and the node, pairs nothing', () => {
    const s = withPendingNode();
    s.take();
    s.send({ type: 'node.pair.reject', pairRequestId: 'id-1', ...OPERATOR });
    const resolved = { requestId: 'id-1', nodeId: 'node-1', decision: 'rejected', ts: T0 };
    expect(s.take()).toEqual([
      { type: 'reply', ...OPERATOR, ok: true, payload: { requestId: 'id-1', nodeId: 'node-1', decision: 'rejected' } },
      { type: 'broadcast', audience: 'operator.pairing', event: 'node.pair.resolved', payload: resolved },
      { type: 'deliver', connId: 'node-a', event: 'node.pair.resolved', payload: resolved },
    ]);
    expect(s.context().pairedNodes.size).toBe(0);
    s.send({ type: 'node.pair.reject', pairRequestId: 'id-1', ...OPERATOR });
    expect(s.take()).toEqual([
      {
        type: 'reply',
        ...OPERATOR,
        ok: false,
        error: { code: 'INVALID_REQUEST', message: 'unknown requestId', details: { code: 'APPROVAL_NOT_FOUND', requestId: 'id-1' } },
      },
    ]);
  });

  it('expires a request pairingRequestTtlMs after it was opened', () => {
    const s = withPendingNode();
    s.take();
    s.clock.increment(TTL_MS - 1);
    expect(s.take()).toEqual([]);
    s.clock.increment(1);
    const resolved = { requestId: 'id-1', nodeId: 'node-1', decision: 'expired', ts: T0 + TTL_MS };
    expect(s.take()).toEqual([
      { type: 'broadcast', audience: 'operator.pairing', event: 'node.pair.resolved', payload: resolved },
      { type: 'deliver', connId: 'node-a', event: 'node.pair.resolved', payload: resolved },
    ]);
    expect(s.context().pendingNodePairs.size).toBe(0);
    s.send({ type: 'node.pair.approve', pairRequestId: 'id-1', ...OPERATOR });
    expect(s.take()).toMatchObject([{ type: 'reply', ok: false, error: { details: { code: 'APPROVAL_NOT_FOUND' } } }]);
  });

  it('pairs a loopback node silently under auto-local pairing, and asks for a remote one', () => {
    const s = start({ pairingMode: 'auto-local' });
    joinNode(s, 'node-a', { isLocalClient: true });
    expect(s.take().filter((event) => event.type !== 'presence.changed')).toMatchObject([
      { type: 'pairing.changed', revision: 1 },
    ]);
    expect(pairingStateOf(s.context())).toMatchObject({ nodes: [{ nodeId: 'node-1', silent: true, commands: ['system.run'] }] });
    joinNode(s, 'node-b', { nodeId: 'node-2' });
    expect(s.take().filter((event) => event.type !== 'presence.changed')).toMatchObject([
      { type: 'broadcast', event: 'node.pair.requested', payload: { requestId: 'id-1', nodeId: 'node-2' } },
    ]);
  });
});

describe('supervisor device pairing', () => {
  const identity = {
    deviceId: 'device-1',
    publicKey: 'device-1-public-key',
    role: 'operator' as const,
    scopes: ['operator.admin'],
    clientId: 'control-ui',
    clientMode: 'ui',
    platform: 'web',
  };

  it('opens a request, and an approval pairs the device with its token, which only the pairing state holds', () => {
    const s = start({ pairingMode: 'manual' });
    s.send({ type: 'device.pair.requested', request: { ...identity, remoteIp: '203.0.113.9' } });
    expect(s.take()).toEqual([
      {
        type: 'broadcast',
        audience: 'operator.pairing',
        event: 'device.pair.requested',
        payload: { requestId: 'id-1', ...identity, remoteIp: '203.0.113.9', ts: T0 },
      },
    ]);
    s.send({ type: 'device.pair.requested', request: identity });
    expect(s.take()).toEqual([]);

    s.send({ type: 'device.pair.approve', pairRequestId: 'id-1', ...OPERATOR });
    const device = { ...identity, createdAtMs: T0, approvedAtMs: T0, silent: false };
    // No token yet: the device is handed one when it next connects.
    expect(pairingStateOf(s.context())).toEqual({ version: 1, devices: [device], nodes: [] });
    const tokens = [{ role: 'operator', scopes: identity.scopes, createdAtMs: T0 }];
    expect(s.take()).toEqual([
      { type: 'pairing.changed', revision: 1 },
      { type: 'reply', ...OPERATOR, ok: true, payload: { requestId: 'id-1', device: { ...device, roles: ['operator'], tokens } } },
      { type: 'broadcast', audience: 'operator.pairing', event: 'device.pair.resolved', payload: { requestId: 'id-1', deviceId: 'device-1', decision: 'approved', ts: T0 } },
    ]);
    s.clock.increment(TTL_MS);
    expect(s.take()).toEqual([]);
  });

  it('expires and rejects requests', () => {
    const s = start({ pairingMode: 'manual' });
    s.send({ type: 'device.pair.requested', request: identity });
    s.clock.increment(TTL_MS);
    expect(s.take().slice(1)).toEqual([
      { type: 'broadcast', audience: 'operator.pairing', event: 'device.pair.resolved', payload: { requestId: 'id-1', deviceId: 'device-1', decision: 'expired', ts: T0 + TTL_MS } },
    ]);
    s.send({ type: 'device.pair.requested', request: identity });
    s.send({ type: 'device.pair.reject', pairRequestId: 'id-2', ...OPERATOR });
    expect(s.take().slice(1)).toEqual([
      { type: 'reply', ...OPERATOR, ok: true, payload: { requestId: 'id-2', deviceId: 'device-1', decision: 'rejected' } },
      { type: 'broadcast', audience: 'operator.pairing', event: 'device.pair.resolved', payload: { requestId: 'id-2', deviceId: 'device-1', decision: 'rejected', ts: T0 + TTL_MS } },
    ]);
    expect(s.context().pairedDevices.size).toBe(0);
  });

  it("removing a device revokes the credentials of its live connections, and only theirs", () => {
    const s = start({ pairingMode: 'manual' });
    s.send({ type: 'device.pair.silentlyApproved', device: { ...identity, tokenHash: 'sha256:t', createdAtMs: T0, approvedAtMs: T0, silent: true } });
    for (const [connId, session] of [
      ['ui-1', operatorSession('device-1')],
      ['ui-2', operatorSession('device-1')],
      ['other', operatorSession('device-2')],
      ['cli', operatorSession(undefined, 'cli')],
    ] as const) {
      s.send({ type: 'connection.joined', connId, remoteAddr: '127.0.0.1', session });
    }
    s.take();
    s.send({ type: 'device.pair.remove', deviceId: 'device-1', ...OPERATOR });
    expect(pairingStateOf(s.context())).toEqual({ version: 1, devices: [], nodes: [] });
    expect(s.take()).toEqual([
      { type: 'pairing.changed', revision: 2 },
      { type: 'credentials.revoked', connIds: ['ui-1', 'ui-2'], reason: 'device removed' },
      { type: 'reply', ...OPERATOR, ok: true, payload: { deviceId: 'device-1', removed: true, revokedConnections: 2 } },
    ]);
    s.send({ type: 'device.pair.remove', deviceId: 'device-1', ...OPERATOR });
    expect(s.take()).toEqual([
      {
        type: 'reply',
        ...OPERATOR,
        ok: false,
        error: { code: 'INVALID_REQUEST', message: 'unknown device: device-1', details: { code: 'DEVICE_NOT_FOUND', deviceId: 'device-1' } },
      },
    ]);
  });
});

describe('supervisor pairing edge cases', () => {
  it('keeps a pending node request expiring at its original time when the node reconnects', () => {
    const s = start({ pairingMode: 'manual' });
    joinNode(s, 'node-a');
    s.clock.increment(TTL_MS / 2);
    s.send({ type: 'connection.left', connId: 'node-a' });
    joinNode(s, 'node-b');
    expect(s.context().pendingNodePairs.get('id-1')?.ts).toBe(T0);
    s.take();
    s.clock.increment(TTL_MS / 2);
    expect(s.take()).toContainEqual(
      expect.objectContaining({ type: 'broadcast', event: 'node.pair.resolved', payload: expect.objectContaining({ decision: 'expired' }) }),
    );
  });

  it("leaves a reconnected node's last-seen time alone when its old connection closes", () => {
    const s = withConnectedNode();
    s.clock.increment(5_000);
    joinNode(s, 'node-b');
    s.clock.increment(5_000);
    s.send({ type: 'connection.left', connId: 'node-a' });
    expect(s.context().nodeLastSeen.get('node-1')).toBe(T0);
    s.send({ type: 'connection.left', connId: 'node-b' });
    expect(s.context().nodeLastSeen.get('node-1')).toBe(T0 + 10_000);
  });

  it('closes a node request left open from a remote address once the node is paired silently from loopback', () => {
    const s = start({ pairingMode: 'auto-local' });
    joinNode(s, 'node-remote');
    expect(s.context().pendingNodePairs.size).toBe(1);
    s.take();
    joinNode(s, 'node-local', { isLocalClient: true });
    expect(s.context().pendingNodePairs.size).toBe(0);
    expect(s.take().filter((event) => event.type !== 'presence.changed')).toMatchObject([
      { type: 'pairing.changed' },
      { type: 'broadcast', event: 'node.pair.resolved', payload: { requestId: 'id-1', decision: 'approved' } },
    ]);
    s.clock.increment(TTL_MS);
    expect(s.take()).toEqual([]);
    expect(s.context().pairedNodes.get('node-1')?.silent).toBe(true);
  });

  it('closes a device request once the device is paired silently', () => {
    const s = start({ pairingMode: 'auto-local' });
    const device = { deviceId: 'device-9', role: 'operator' as const, scopes: [], clientId: 'ui', clientMode: 'ui' };
    s.send({ type: 'device.pair.requested', request: device });
    s.take();
    s.send({
      type: 'device.pair.silentlyApproved',
      device: { ...device, tokenHash: 'sha256:tok', createdAtMs: T0, approvedAtMs: T0, silent: true },
    });
    expect(s.context().pendingDevicePairs.size).toBe(0);
    expect(s.take()).toMatchObject([
      { type: 'pairing.changed' },
      { type: 'broadcast', event: 'device.pair.resolved', payload: { requestId: 'id-1', decision: 'approved' } },
    ]);
    s.clock.increment(TTL_MS);
    expect(s.take()).toEqual([]);
  });
});

describe('supervisor node removal', () => {
  it('forgets the node, persists, tells operators, and revokes only that node\'s live connections', () => {
    const s = withConnectedNode();
    joinNode(s, 'other-node', { nodeId: 'node-2', isLocalClient: false });
    s.take();
    s.send({ type: 'node.pair.remove', nodeId: 'node-1', ...OPERATOR });
    expect(s.context().pairedNodes.has('node-1')).toBe(false);
    // Access ends at once; the answer and the announcement follow once the removal is saved.
    expect(pairingStateOf(s.context())).toEqual({ version: 1, devices: [], nodes: [] });
    expect(s.take()).toEqual([
      { type: 'pairing.changed', revision: 1 },
      { type: 'credentials.revoked', connIds: ['node-a'], reason: 'node removed' },
      { type: 'broadcast', audience: 'operator.pairing', event: 'node.pair.resolved', payload: { requestId: '', nodeId: 'node-1', decision: 'removed', ts: T0 } },
      { type: 'reply', ...OPERATOR, ok: true, payload: { nodeId: 'node-1' } },
    ]);
    s.send({ type: 'node.pair.remove', nodeId: 'node-1', ...OPERATOR });
    expect(s.take()).toMatchObject([{ type: 'reply', ok: false, error: { message: 'unknown nodeId', details: { code: 'NODE_NOT_FOUND' } } }]);
  });
});

describe('supervisor: an approval is announced only once it is on disk', () => {
  const identity = { deviceId: 'device-1', role: 'operator' as const, scopes: ['operator.read'], clientId: 'control-ui', clientMode: 'ui' };

  it('holds the approve answer and the resolved event until the revision holding them is saved', () => {
    const s = start({ pairingMode: 'manual' }, { saves: 'manual' });
    s.send({ type: 'device.pair.requested', request: identity });
    s.send({ type: 'device.pair.requested', request: { ...identity, deviceId: 'device-2' } });
    s.take();
    s.send({ type: 'device.pair.approve', pairRequestId: 'id-1', ...OPERATOR });
    expect(s.take().map((event) => event.type)).toEqual(['pairing.changed']);
    s.send({ type: 'device.pair.approve', pairRequestId: 'id-2', requestId: 'op-req-2', connId: 'op' });
    expect(s.take()).toMatchObject([{ type: 'pairing.changed', revision: 2 }]);
    expect(s.context().persistence).toMatchObject({ revision: 2, persisted: 0 });

    // Saves complete in order; each releases what waited for it, and only that.
    s.send({ type: 'pairing.persisted', revision: 1 });
    expect(s.take()).toMatchObject([
      { type: 'reply', requestId: 'op-req', ok: true, payload: { requestId: 'id-1' } },
      { type: 'broadcast', event: 'device.pair.resolved', payload: { requestId: 'id-1', decision: 'approved' } },
    ]);
    s.send({ type: 'pairing.persisted', revision: 2 });
    expect(s.take()).toMatchObject([
      { type: 'reply', requestId: 'op-req-2', ok: true },
      { type: 'broadcast', event: 'device.pair.resolved', payload: { requestId: 'id-2' } },
    ]);
    // A late report of an older save changes nothing.
    s.send({ type: 'pairing.persisted', revision: 1 });
    expect(s.take()).toEqual([]);
    expect(s.context().persistence).toEqual({ revision: 2, persisted: 2, held: [] });
  });

  it('answers UNAVAILABLE (retryable) when the save failed, and still announces the change', () => {
    const s = start({ pairingMode: 'manual' }, { saves: 'manual' });
    joinNode(s, 'node-a');
    s.take();
    s.send({ type: 'node.pair.approve', pairRequestId: 'id-1', ...OPERATOR });
    expect(s.take().map((event) => event.type)).toEqual(['pairing.changed']);
    s.send({ type: 'pairing.persistFailed', revision: 1, message: 'ENOSPC: no space left on device' });
    expect(s.take()).toMatchObject([
      { type: 'reply', ...OPERATOR, ok: false, error: { code: 'UNAVAILABLE', retryable: true, message: expect.stringContaining('ENOSPC') } },
      { type: 'broadcast', event: 'node.pair.resolved' },
      { type: 'deliver', connId: 'node-a', event: 'node.pair.resolved' },
    ]);
  });

  it('revokes a removed device at once, and answers the remove once it is saved', () => {
    const s = start({ pairingMode: 'manual', pairing: { version: 1, devices: [{ ...identity, tokenHash: 'sha256:t', createdAtMs: T0, approvedAtMs: T0, silent: false }], nodes: [] } }, { saves: 'manual' });
    s.send({ type: 'connection.joined', connId: 'ui-1', remoteAddr: '127.0.0.1', session: operatorSession('device-1') });
    s.take();
    s.send({ type: 'device.pair.remove', deviceId: 'device-1', ...OPERATOR });
    expect(s.take().map((event) => event.type)).toEqual(['pairing.changed', 'credentials.revoked']);
    s.send({ type: 'pairing.persisted', revision: 1 });
    expect(s.take()).toMatchObject([{ type: 'reply', ok: true, payload: { removed: true } }]);
  });

  it("rotates a device's token: its other sockets lose their credentials at once, the caller's own only after its answer, once saved", () => {
    const paired = { ...identity, tokenHash: 'sha256:old', createdAtMs: T0, approvedAtMs: T0, silent: false };
    const s = start({ pairingMode: 'manual', pairing: { version: 1, devices: [paired], nodes: [] } }, { saves: 'manual' });
    for (const connId of ['ui-1', 'ui-self']) s.send({ type: 'connection.joined', connId, remoteAddr: '127.0.0.1', session: operatorSession('device-1') });
    s.take();
    s.send({ type: 'device.token.rotate', deviceId: 'device-1', tokenHash: 'sha256:new', connId: 'ui-self', requestId: 'self-req' });
    expect(s.context().pairedDevices.get('device-1')).toMatchObject({ tokenHash: 'sha256:new', tokenRotatedAtMs: T0 });
    expect(s.take()).toEqual([
      { type: 'pairing.changed', revision: 1 },
      { type: 'credentials.revoked', connIds: ['ui-1'], reason: 'device token rotated' },
    ]);
    s.send({ type: 'pairing.persisted', revision: 1 });
    expect(s.take()).toEqual([
      {
        type: 'reply',
        connId: 'ui-self',
        requestId: 'self-req',
        ok: true,
        payload: { deviceId: 'device-1', role: 'operator', scopes: identity.scopes, rotatedAtMs: T0, tokenDelivery: 'in-band' },
      },
      { type: 'credentials.revoked', connIds: ['ui-self'], reason: 'device token rotated', afterAnswer: true },
    ]);
    // Revoked by an operator: no token is live until the device is handed a new one.
    s.send({ type: 'device.token.revoke', deviceId: 'device-1', ...OPERATOR });
    s.send({ type: 'pairing.persisted', revision: 2 });
    expect(s.context().pairedDevices.get('device-1')).toMatchObject({ tokenRevokedAtMs: T0 });
    expect(s.context().pairedDevices.get('device-1')?.tokenHash).toBeUndefined();
    s.send({ type: 'device.token.issued', deviceId: 'device-1', tokenHash: 'sha256:fresh' });
    expect(s.context().pairedDevices.get('device-1')?.tokenRevokedAtMs).toBeUndefined();
    expect(pairingStateOf(s.context()).devices[0]?.tokenHash).toBe('sha256:fresh');
  });
});

describe('supervisor shutdown', () => {
  it('answers invokes in flight UNAVAILABLE, refuses new ones, and stops ticking', () => {
    const s = withConnectedNode();
    requestInvoke(s);
    s.take();
    s.send({ type: 'gateway.shutdown', reason: 'restart', restartExpectedMs: 1_000 });
    expect(callerReply(s)).toEqual([
      { type: 'reply', ...OPERATOR, ok: false, error: { code: 'UNAVAILABLE', message: 'gateway shutting down', retryable: true } },
    ]);
    expect(s.context().invokes.size).toBe(0);
    expect(s.invokes.size).toBe(0);
    requestInvoke(s);
    expect(s.take()).toEqual([
      { type: 'reply', ...OPERATOR, ok: false, error: { code: 'UNAVAILABLE', message: 'gateway shutting down', retryable: true } },
    ]);
    expect(s.actor.getSnapshot().value).toMatchObject({ lifecycle: 'stopping', keepalive: 'stopped' });
    s.clock.increment(48 * 3_600_000);
    expect(s.take()).toEqual([]);
  });
});

describe('supervisor pairing limits', () => {
  const device = (n: number, remoteIp = `198.51.100.${n}`) => ({
    deviceId: `device-${n}`,
    role: 'operator' as const,
    scopes: ['operator.read'],
    clientId: 'control-ui',
    clientMode: 'ui',
    remoteIp,
  });
  const refusals = (s: Supervisor) => s.take().filter((event) => event.type === 'pairing.refused');
  const pendingDevices = (s: Supervisor) => [...s.context().pendingDevicePairs.values()].map((request) => request.deviceId);

  it('refuses a device request when the list is full, and never drops one already filed', () => {
    const s = start({ pairingMode: 'manual', pairingLimits: { maxPending: 2 } });
    for (const n of [1, 2, 3, 4]) s.send({ type: 'device.pair.requested', request: device(n) });
    expect(pendingDevices(s)).toEqual(['device-1', 'device-2']);
    const events = s.take();
    expect(events.filter((event) => event.type === 'broadcast' && event.event === 'device.pair.requested')).toHaveLength(2);
    expect(events.filter((event) => event.type === 'pairing.refused')).toEqual([
      { type: 'pairing.refused', kind: 'device', subject: 'device-3', remoteIp: '198.51.100.3', reason: 'list-full' },
      { type: 'pairing.refused', kind: 'device', subject: 'device-4', remoteIp: '198.51.100.4', reason: 'list-full' },
    ]);
    // The first request is still there to approve, and its approval makes room for another.
    s.send({ type: 'device.pair.approve', pairRequestId: 'id-1', ...OPERATOR });
    expect(s.context().pairedDevices.has('device-1')).toBe(true);
    s.send({ type: 'device.pair.requested', request: device(3) });
    expect(pendingDevices(s)).toEqual(['device-2', 'device-3']);
  });

  it('gives one address only its share of the pending list', () => {
    const s = start({ pairingMode: 'manual', pairingLimits: { maxPending: 10, maxPendingPerAddress: 2 } });
    for (const n of [1, 2, 3]) s.send({ type: 'device.pair.requested', request: device(n, '203.0.113.66') });
    s.send({ type: 'device.pair.requested', request: device(4) });
    expect(pendingDevices(s)).toEqual(['device-1', 'device-2', 'device-4']);
    expect(refusals(s)).toEqual([{ type: 'pairing.refused', kind: 'device', subject: 'device-3', remoteIp: '203.0.113.66', reason: 'address-full' }]);
  });

  it('refuses an approval past the paired cap and keeps the request pending until a device is removed', () => {
    const s = start({ pairingMode: 'manual', pairingLimits: { maxPairedDevices: 1 } });
    s.send({ type: 'device.pair.requested', request: device(1) });
    s.send({ type: 'device.pair.requested', request: device(2) });
    s.send({ type: 'device.pair.approve', pairRequestId: 'id-1', ...OPERATOR });
    s.take();
    s.send({ type: 'device.pair.approve', pairRequestId: 'id-2', ...OPERATOR });
    expect(callerReply(s)).toEqual([
      {
        type: 'reply',
        ...OPERATOR,
        ok: false,
        error: {
          code: 'INVALID_REQUEST',
          message: 'pairing limit reached: 1 paired devices; remove one first',
          details: { code: 'PAIRING_LIMIT_REACHED', requestId: 'id-2', limit: 1 },
        },
      },
    ]);
    expect(pendingDevices(s)).toEqual(['device-2']);
    s.send({ type: 'device.pair.remove', deviceId: 'device-1', ...OPERATOR });
    s.send({ type: 'device.pair.approve', pairRequestId: 'id-2', ...OPERATOR });
    expect([...s.context().pairedDevices.keys()]).toEqual(['device-2']);
  });

  it('refuses a silent device pairing past the cap, but re-pairs a device already paired', () => {
    const s = start({ pairingLimits: { maxPairedDevices: 1 } });
    const paired = (n: number) => ({ ...device(n), tokenHash: `sha256:token-${n}`, createdAtMs: T0, approvedAtMs: T0, silent: true });
    s.send({ type: 'device.pair.silentlyApproved', device: paired(1) });
    s.send({ type: 'device.pair.silentlyApproved', device: paired(2) });
    expect(refusals(s)).toEqual([{ type: 'pairing.refused', kind: 'device', subject: 'device-2', reason: 'paired-full' }]);
    s.send({ type: 'device.pair.silentlyApproved', device: { ...paired(1), tokenHash: 'sha256:token-1b' } });
    expect(refusals(s)).toEqual([]);
    expect(s.context().pairedDevices.get('device-1')?.tokenHash).toBe('sha256:token-1b');
  });

  it('files no node request without room and pairs no node past the cap', () => {
    const manual = start({ pairingMode: 'manual', pairingLimits: { maxPending: 1 } });
    joinNode(manual, 'node-a', { nodeId: 'node-1' });
    joinNode(manual, 'node-b', { nodeId: 'node-2' });
    expect([...manual.context().pendingNodePairs.values()].map((request) => request.nodeId)).toEqual(['node-1']);
    expect(refusals(manual)).toEqual([{ type: 'pairing.refused', kind: 'node', subject: 'node-2', remoteIp: '203.0.113.9', reason: 'list-full' }]);

    const local = start({ pairingMode: 'auto-local', pairingLimits: { maxPairedNodes: 1 } });
    joinNode(local, 'node-a', { nodeId: 'node-1', isLocalClient: true });
    joinNode(local, 'node-b', { nodeId: 'node-2', isLocalClient: true });
    expect([...local.context().pairedNodes.keys()]).toEqual(['node-1']);
    expect(refusals(local)).toEqual([{ type: 'pairing.refused', kind: 'node', subject: 'node-2', remoteIp: '127.0.0.1', reason: 'paired-full' }]);
  });
});
