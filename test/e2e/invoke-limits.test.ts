// Invokes in flight are capped per caller, per node and in all, over real sockets on loopback: operators that
// flood silent nodes with node.invoke get at most their share in flight and a retryable refusal for the rest,
// while a healthy client keeps its handshakes and health round trips. A caller that leaves takes its invokes
// with it, and their node is told node.invoke.cancel for each; a timeout does the same.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { healthMonitor, until } from '../helpers/chaos.js';
import { connectClient, type Frame, type TestClient } from '../helpers/client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await gw?.close();
});

async function operator(scopes = ['operator.write']) {
  const { client } = await connectClient(gw.url, gw.token, { scopes });
  clients.push(client);
  return client;
}

/** A node that never answers (paired silently: loopback, auto-local); it records what it is sent. */
async function silentNode() {
  const nodeId = `node-${randomUUID().slice(0, 8)}`;
  const { client } = await connectClient(gw.url, gw.token, {
    role: 'node',
    scopes: [],
    client: { id: nodeId, version: '1.0.0', platform: 'linux', mode: 'node', instanceId: randomUUID() },
    caps: ['system'],
    commands: ['system.run'],
  });
  clients.push(client);
  const events = (name: string) => client.frames.filter((frame) => frame.type === 'event' && frame.event === name).map((frame) => frame.payload as Record<string, string>);
  return { client, nodeId, requests: () => events('node.invoke.request'), cancels: () => events('node.invoke.cancel') };
}

interface Flood {
  accepted: () => number;
  refused: Frame[];
  /** Resolves once every invoke is either refused or (accepted and) still waiting, i.e. all refusals are in. */
  refusalsIn: (expected: number) => Promise<void>;
}

/**
 * Sends `count` node.invoke without waiting for answers, as fast as the socket takes them (in batches of 50, a
 * turn of the event loop apart, so that this process, which is the gateway too, does not queue them all at
 * once ahead of the healthy client); keys are `<tag>-<i>`.
 */
async function flood(caller: TestClient, nodeId: string, tag: string, count: number, timeoutMs = 600_000): Promise<Flood> {
  const refused: Frame[] = [];
  caller.ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as Frame;
    if (frame.type === 'res' && String(frame.id).startsWith(`${tag}-`) && frame.ok === false) refused.push(frame);
  });
  for (let i = 0; i < count; i += 1) {
    if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    caller.send({ type: 'req', id: `${tag}-${i}`, method: 'node.invoke', params: { nodeId, command: 'system.run', params: { command: ['sleep', '30'] }, timeoutMs, idempotencyKey: `${tag}-${i}` } });
  }
  return {
    refused,
    accepted: () => count - refused.length,
    refusalsIn: async (expected) => {
      const deadline = Date.now() + 20_000;
      while (refused.length < expected) {
        if (Date.now() > deadline) throw new Error(`${tag}: ${refused.length} of ${expected} refusals in 20 s`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
  };
}

const limitOf = (frame: Frame) => (frame.error as { details: { limit: string } }).details.limit;

describe('invokes in flight', () => {
  it('are capped per caller, per node and in all, while a healthy client is served; a caller that leaves cancels its own', async () => {
    gw = await startTestGateway({ maxInvokesPerCaller: 200, maxInvokesPerNode: 300, maxInvokesInFlight: 400 });
    const monitor = healthMonitor(gw.url, gw.token, { intervalMs: 50, handshakeEveryMs: 200 });
    const nodeA = await silentNode();
    const nodeB = await silentNode();
    const [first, second, third] = [await operator(), await operator(), await operator()];

    // 200 of the first caller's 1,000 fill its cap; the second gets the 100 left on node A; the third the 100
    // left in all, on node B.
    const a = await flood(first, nodeA.nodeId, 'a', 1_000);
    await a.refusalsIn(800);
    const b = await flood(second, nodeA.nodeId, 'b', 1_000);
    await b.refusalsIn(900);
    const c = await flood(third, nodeB.nodeId, 'c', 1_000);
    await c.refusalsIn(900);
    expect(new Set(a.refused.map(limitOf))).toEqual(new Set(['perCaller']));
    expect(new Set(b.refused.map(limitOf))).toEqual(new Set(['perNode']));
    expect(new Set(c.refused.map(limitOf))).toEqual(new Set(['total']));
    expect(a.refused[0]!.error).toMatchObject({
      code: 'UNAVAILABLE',
      retryable: true,
      details: { code: 'TOO_MANY_INVOKES', limit: 'perCaller', max: 200, nodeId: nodeA.nodeId },
    });
    expect(gw.gateway.stats()).toMatchObject({ invokesInFlight: 400, supervisorChildren: 400 });
    // What was let through reached the nodes, and only that.
    const deadline = Date.now() + 10_000;
    while ((nodeA.requests().length < 300 || nodeB.requests().length < 100) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect([nodeA.requests().length, nodeB.requests().length]).toEqual([300, 100]);

    // The first caller leaves: its 200 end, node A is told to cancel exactly those, and room is made.
    const firstIds = new Set(nodeA.requests().filter((request) => request.idempotencyKey!.startsWith('a-')).map((request) => request.id));
    expect(firstIds.size).toBe(200);
    first.ws.terminate();
    await until(() => gw.gateway.stats().invokesInFlight === 200 && gw.gateway.stats().supervisorChildren === 200, 10_000, 'the leaver\'s invokes ended');
    const cancelDeadline = Date.now() + 10_000;
    while (nodeA.cancels().length < 200 && Date.now() < cancelDeadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(new Set(nodeA.cancels().map((cancel) => cancel.invokeId))).toEqual(firstIds);
    expect(nodeA.cancels().every((cancel) => cancel.nodeId === nodeA.nodeId && Object.keys(cancel).length === 2)).toBe(true);
    expect(nodeB.cancels()).toEqual([]);
    second.send({ type: 'req', id: 'again', method: 'node.invoke', params: { nodeId: nodeB.nodeId, command: 'system.run', timeoutMs: 600_000, idempotencyKey: 'again' } });
    await nodeB.client.next((frame) => frame.event === 'node.invoke.request' && (frame.payload as { idempotencyKey?: string }).idempotencyKey === 'again');
    const report = await monitor.stop();
    console.log(
      `invoke caps: healthy client ${report.requests} health requests (max ${report.maxRequestMs} ms), ` +
        `${report.handshakes} handshakes (max ${report.maxHandshakeMs} ms)`,
    );
    expect(report.failures).toEqual([]);
    expect(report.requests).toBeGreaterThan(5);
    expect(report.handshakes).toBeGreaterThan(2);
  });

  it("cancels the invokes on a node whose approval is removed, before the node's sockets are closed 4001", async () => {
    gw = await startTestGateway();
    const node = await silentNode();
    const admin = await operator(['operator.admin']);
    const pending = admin.request('node.invoke', { nodeId: node.nodeId, command: 'system.run', timeoutMs: 600_000, idempotencyKey: 'k' });
    const request = (await node.client.event('node.invoke.request')).payload as { id: string };
    expect((await admin.request('node.pair.remove', { nodeId: node.nodeId })).ok).toBe(true);
    expect(await pending).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE', message: 'PAIRING_CHANGED: node pairing changed after dispatch' } });
    const cancel = await node.client.event('node.invoke.cancel');
    expect(cancel.payload).toEqual({ invokeId: request.id, nodeId: node.nodeId });
    expect(await node.client.closed).toMatchObject({ code: 4001 });
    expect(node.client.frames.at(-1)).toBe(cancel);
  });

  it('tells the node to cancel an invoke that timed out, after answering the caller', async () => {
    gw = await startTestGateway();
    const node = await silentNode();
    const caller = await operator();
    const answer = await caller.request('node.invoke', { nodeId: node.nodeId, command: 'system.run', timeoutMs: 200, idempotencyKey: 'k' });
    expect(answer.ok).toBe(false);
    const cancel = await node.client.event('node.invoke.cancel');
    expect(cancel.payload).toEqual({ invokeId: node.requests()[0]!.id, nodeId: node.nodeId });
    expect(cancel.seq).toBeUndefined();
    await until(() => gw.gateway.stats().invokesInFlight === 0 && gw.gateway.stats().supervisorChildren === 0, 5_000, 'the invoke ended');
  });
});
