// Bad input after the handshake: every method, called by an operator and by a node with params of every
// wrong shape, gets one clear answer, the socket stays open, and everyone else keeps being served.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProtocolLimits } from '../../machines/protocol.js';
import { connectClient, type Frame, type TestClient } from '../helpers/client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const BAD_PARAMS: unknown[] = [
  null,
  42,
  'text',
  [],
  [1, 2],
  {},
  { requestId: 7, nodeId: ['x'], deviceId: {}, command: null, id: false, ok: 'yes', event: 1, timeoutMs: -5 },
  { nodeId: 'x'.repeat(100_000), command: 'y'.repeat(10_000), requestId: '', id: '', event: '' },
  // An own `__proto__` key, as JSON.parse makes it (an object literal would set the prototype instead).
  JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "nodeId": "n"}'),
];

let gw: TestGateway;
let operator: TestClient;
let node: TestClient;
let bystander: TestClient;

beforeAll(async () => {
  // Calling every method under the wrong role is what this test does: the limit on refused calls, which
  // would close such a socket (test/e2e/admission.test.ts), is lifted here.
  gw = await startTestGateway({ pairing: 'manual', unauthorizedCallLimit: 0 });
  operator = (await connectClient(gw.url, gw.token, { scopes: ['operator.admin'] })).client;
  node = (
    await connectClient(gw.url, gw.token, {
      role: 'node',
      scopes: [],
      client: { id: 'fuzzed-node', version: '1.0.0', platform: 'linux', mode: 'node' },
      commands: ['system.which'],
    })
  ).client;
  bystander = (await connectClient(gw.url, gw.token, { scopes: ['operator.read'] })).client;
});
afterAll(async () => {
  for (const client of [operator, node, bystander]) client?.ws.terminate();
  await gw?.close();
});

function expectOneClearAnswer(response: Frame): void {
  expect(response.type).toBe('res');
  if (response.ok) return;
  const error = response.error as { code: unknown; message: unknown };
  expect(typeof error.code).toBe('string');
  expect(typeof error.message).toBe('string');
  expect((error.message as string).length).toBeGreaterThan(0);
}

describe('every method with params of the wrong shape', () => {
  it.each(['operator', 'node'] as const)('is answered, as %s, without closing the socket', async (role) => {
    const client = role === 'operator' ? operator : node;
    const methods = gw.gateway.features().methods.filter((method) => method !== 'connect');
    for (const method of methods) {
      for (const params of BAD_PARAMS) {
        expectOneClearAnswer(await client.request(method, params));
      }
    }
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // The bystander was never disturbed and is still served.
    expect((await bystander.request('health')).ok).toBe(true);
    expect(bystander.ws.readyState).toBe(bystander.ws.OPEN);
    // Nothing was approved, invoked or paired by any of it.
    const pairing = (await operator.request('node.pair.list')).payload as { pending: unknown[]; paired: unknown[] };
    expect(pairing.paired).toEqual([]);
    expect(pairing.pending).toHaveLength(1);
  });

  it('answers a request frame of the wrong shape that has an id, and stays open', async () => {
    operator.send({ type: 'req', id: 'bad-1', method: 7 });
    const answer = await operator.next((frame) => frame.type === 'res' && frame.id === 'bad-1');
    expectOneClearAnswer(answer);
    expect(answer.ok).toBe(false);
    expect(operator.ws.readyState).toBe(operator.ws.OPEN);
    expect((await operator.request('health')).ok).toBe(true);
  });
});

describe('params nested too deep', () => {
  const nested = (depth: number) => `${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}`;
  const invoke = (id: string, depth: number) =>
    `{"type":"req","id":"${id}","method":"node.invoke","params":{"nodeId":"fuzzed-node","command":"system.which","idempotencyKey":"${id}","params":${nested(depth)}}}`;

  it('are refused INVALID_REQUEST before the frame is parsed, logged once per connection and interval without a stack, and the socket stays open', async () => {
    // A connection of its own: refusal lines are throttled per connection, and the tests above had refusals of their own.
    const operator = (await connectClient(gw.url, gw.token, { scopes: ['operator.admin'] })).client;
    const before = gw.logs.lines.length;
    for (const [index, depth] of [20_000, 200_000, ProtocolLimits.maxParamsDepth + 1].entries()) {
      const id = `deep-${index}`;
      operator.send(invoke(id, depth));
      const answer = await operator.next((frame) => frame.type === 'res' && frame.id === id, 10_000);
      expect(answer).toMatchObject({
        ok: false,
        error: { code: 'INVALID_REQUEST', message: 'params too deeply nested', details: { code: 'PARAMS_TOO_DEEP', maxDepth: ProtocolLimits.maxParamsDepth } },
      });
    }
    // At the limit the params pass (the node is not approved here, so the invoke is refused for that instead).
    operator.send(invoke('at-limit', ProtocolLimits.maxParamsDepth));
    const atLimit = await operator.next((frame) => frame.type === 'res' && frame.id === 'at-limit', 10_000);
    expect((atLimit.error as { details?: { code?: string } }).details?.code).not.toBe('PARAMS_TOO_DEEP');
    expect(operator.ws.readyState).toBe(operator.ws.OPEN);
    expect((await operator.request('health')).ok).toBe(true);

    const lines = gw.logs.lines.slice(before);
    expect(lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
    // One warn line for the connection within the throttle's interval (the later refusals are counted on its next line).
    const refused = lines.filter((line) => line.event === 'frame.refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: 40, code: 'PARAMS_TOO_DEEP', ready: true, suppressed: 0, connId: expect.any(String) });
    expect(refused[0]!.err).toBeUndefined();
    operator.ws.terminate();
  });
});
