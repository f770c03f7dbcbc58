// The embedding API over real sockets: a program's methods and events beside the built-in ones, under the
// same rules (role, scope, schema), their errors, and what the API refuses.
import { Type } from '@sinclair/typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { createGateway, type Gateway } from '../../src/gateway/create-gateway.js';
import { MethodError } from '../../src/methods/errors.js';
import { createLogger } from '../../src/observability/logger.js';
import { connectClient, type Frame, type TestClient } from '../helpers/client.js';
import { LogCapture, TEST_TOKEN } from '../helpers/gateway.js';

const running: Gateway[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await Promise.all(running.splice(0).map((gateway) => gateway.close('test finished')));
});

function gatewayWithLogs(): { gateway: Gateway; logs: LogCapture } {
  const logs = new LogCapture();
  const gateway = createGateway({ host: '127.0.0.1', port: 0, token: TEST_TOKEN, logger: createLogger('debug', logs) });
  running.push(gateway);
  return { gateway, logs };
}

async function operator(url: string, scopes: string[]): Promise<{ client: TestClient; hello: Record<string, unknown> }> {
  const connected = await connectClient(url, TEST_TOKEN, { scopes });
  clients.push(connected.client);
  return connected;
}

async function node(url: string): Promise<TestClient> {
  const { client } = await connectClient(url, TEST_TOKEN, { role: 'node', scopes: [], client: { id: 'embedding-node', version: '1.0.0', platform: 'linux', mode: 'node' } });
  clients.push(client);
  return client;
}

const payloadOf = (frame: Frame) => frame.payload as Record<string, unknown>;
const errorOf = (frame: Frame) => frame.error as { code: string; message: string; details?: Record<string, unknown> };

describe('a program\'s methods', () => {
  it('are called with params typed and checked by their schema, and answered with what the handler returns', async () => {
    const { gateway } = gatewayWithLogs();
    const seen: { connId: string; clientId: string; scopes: readonly string[] }[] = [];
    gateway.method('demo.echo', {
      scope: 'operator.read',
      params: Type.Object({ text: Type.String(), times: Type.Optional(Type.Integer({ minimum: 1, maximum: 3 })) }),
      handle: async ({ text, times }, ctx) => {
        seen.push({ connId: ctx.connId, clientId: ctx.session.client.id, scopes: ctx.session.scopes });
        return { echoed: text.repeat(times ?? 1) };
      },
    });
    await gateway.listen();
    const { client, hello } = await operator(gateway.url, ['operator.read']);
    expect((hello.features as { methods: string[] }).methods).toContain('demo.echo');

    expect(payloadOf(await client.request('demo.echo', { text: 'ab', times: 2 }))).toEqual({ echoed: 'abab' });
    expect(seen).toEqual([{ connId: (hello.server as { connId: string }).connId, clientId: 'test', scopes: ['operator.read'] }]);

    const wrong = await client.request('demo.echo', { text: 3 });
    expect(errorOf(wrong)).toMatchObject({ code: 'INVALID_REQUEST', message: 'invalid demo.echo params: /text: Expected string' });
    expect(errorOf(await client.request('demo.echo', { text: 'x', times: 9 })).message).toContain('/times');
    expect(errorOf(await client.request('demo.echo')).message).toContain('/text');
    expect(seen).toHaveLength(1);
    expect(client.ws.readyState).toBe(client.ws.OPEN);
  });

  it('apply the same role and scope rules as the built-ins, counted by the unauthorized-call limit', async () => {
    const { gateway } = gatewayWithLogs();
    let calls = 0;
    gateway.method('demo.write', { scope: 'operator.write', handle: () => ++calls });
    gateway.method('demo.node', { role: 'node', handle: () => 'for nodes' });
    gateway.method('demo.any', { role: 'any', scope: 'operator.read', handle: () => 'for anyone' });
    await gateway.listen();
    const { client: reader } = await operator(gateway.url, ['operator.read']);
    const { client: admin } = await operator(gateway.url, ['operator.admin']);
    const nodeClient = await node(gateway.url);

    expect(errorOf(await reader.request('demo.write'))).toMatchObject({
      code: 'FORBIDDEN',
      message: 'missing scope: operator.write',
      details: { code: 'MISSING_SCOPE', missingScope: 'operator.write', requiredScopes: ['operator.write'] },
    });
    expect(payloadOf(await admin.request('demo.write'))).toBe(1);
    expect(errorOf(await nodeClient.request('demo.write')).details).toMatchObject({ code: 'ROLE_NOT_ALLOWED', requiredRole: 'operator' });
    expect(errorOf(await admin.request('demo.node')).details).toMatchObject({ code: 'ROLE_NOT_ALLOWED', requiredRole: 'node' });
    expect(payloadOf(await nodeClient.request('demo.node'))).toBe('for nodes');
    expect(payloadOf(await nodeClient.request('demo.any'))).toBe('for anyone');
    expect(payloadOf(await reader.request('demo.any'))).toBe('for anyone');
    expect(calls).toBe(1);
  });

  it('answer a thrown MethodError with that error, and anything else thrown with UNAVAILABLE, logged without leaking it', async () => {
    const { gateway, logs } = gatewayWithLogs();
    gateway.method('demo.refuse', {
      scope: 'operator.read',
      handle: () => {
        throw new MethodError('NOT_PAIRED', 'approve me first', { details: { code: 'DEMO_NOT_APPROVED' }, retryable: true, retryAfterMs: 50 });
      },
    });
    gateway.method('demo.crash', {
      scope: 'operator.read',
      handle: async () => {
        throw new Error('secret internals /etc/app.conf');
      },
    });
    await gateway.listen();
    const { client } = await operator(gateway.url, ['operator.read']);
    expect(errorOf(await client.request('demo.refuse'))).toEqual({
      code: 'NOT_PAIRED',
      message: 'approve me first',
      details: { code: 'DEMO_NOT_APPROVED' },
      retryable: true,
      retryAfterMs: 50,
    });
    const crashed = await client.request('demo.crash');
    expect(errorOf(crashed)).toEqual({ code: 'UNAVAILABLE', message: 'internal error' });
    expect(JSON.stringify(crashed)).not.toContain('secret');
    const line = await logs.waitFor((entry) => entry.event === 'request.failed');
    expect(line).toMatchObject({ method: 'demo.crash', msg: 'request handler failed' });
    expect((await client.request('health')).ok).toBe(true);
  });

  it('give the handler a logger bound to the request', async () => {
    const { gateway, logs } = gatewayWithLogs();
    gateway.method('demo.log', { scope: 'operator.read', handle: (_params, ctx) => void ctx.logger.info({ note: 'from the handler' }, 'handled') });
    await gateway.listen();
    const { client, hello } = await operator(gateway.url, ['operator.read']);
    await client.request('demo.log');
    const line = await logs.waitFor((entry) => entry.note === 'from the handler');
    expect(line).toMatchObject({ method: 'demo.log', connId: (hello.server as { connId: string }).connId });
  });
});

describe('what the API refuses', () => {
  it('a built-in or taken method name, a name that is no name, a method without access rules, and methods after listen()', async () => {
    const { gateway } = gatewayWithLogs();
    const code = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        expect(error).toBeInstanceOf(GatewayError);
        return (error as GatewayError).code;
      }
      return 'no error';
    };
    expect(code(() => gateway.method('health', { scope: 'operator.read', handle: () => 1 }))).toBe('ERR_METHOD_EXISTS');
    expect(code(() => gateway.method('connect', { scope: 'operator.read', handle: () => 1 }))).toBe('ERR_METHOD_EXISTS');
    gateway.method('demo.once', { scope: 'operator.read', handle: () => 1 });
    expect(code(() => gateway.method('demo.once', { scope: 'operator.read', handle: () => 2 }))).toBe('ERR_METHOD_EXISTS');
    expect(code(() => gateway.method('has space', { scope: 'operator.read', handle: () => 1 }))).toBe('ERR_INVALID_METHOD');
    expect(code(() => gateway.method('demo.open', { handle: () => 1 } as never))).toBe('ERR_INVALID_METHOD');
    expect(code(() => gateway.event('presence'))).toBe('ERR_INVALID_EVENT');
    expect(code(() => gateway.broadcast('tick', {}))).toBe('ERR_INVALID_EVENT');
    await gateway.listen();
    expect(code(() => gateway.method('demo.late', { scope: 'operator.read', handle: () => 1 }))).toBe('ERR_GATEWAY_STATE');
    await expect(gateway.listen()).rejects.toMatchObject({ code: 'ERR_GATEWAY_STATE' });
  });

  it('unknown options and bad values, naming the option', () => {
    expect(() => createGateway({ prot: 1 } as never)).toThrow(/unknown option "prot"/);
    expect(() => createGateway({ port: -1 })).toThrow('port must be an integer from 0 to 65535, got "-1"');
    expect(() => createGateway({ pairing: 'sometimes' as never })).toThrow('pairing must be one of auto-local, manual');
    expect(() => createGateway({ auth: 'password' })).toThrow('auth password needs password');
    expect(() => createGateway({ lowWaterBytes: 100, highWaterBytes: 50 })).toThrow(GatewayError);
  });
});

describe('a program\'s events', () => {
  it('go to the sockets of their audience only, each numbered with its own seq, and are listed in hello-ok', async () => {
    const { gateway } = gatewayWithLogs();
    gateway.event('demo.pairing', { scope: 'operator.pairing' });
    await gateway.listen();
    const { client: reader, hello } = await operator(gateway.url, ['operator.read']);
    const { client: pairer } = await operator(gateway.url, ['operator.pairing']);
    const nodeClient = await node(gateway.url);
    expect((hello.features as { events: string[] }).events).toEqual(expect.arrayContaining(['tick', 'presence', 'demo.pairing']));

    gateway.broadcast('demo.pairing', { n: 1 });
    gateway.broadcast('demo.read', { n: 2 }); // not declared: operators that may read, declared now
    gateway.broadcast('demo.nodes', { n: 3 }, { role: 'node' });
    gateway.broadcast('demo.all', { n: 4 }, { role: 'any' });
    const last = await Promise.all([reader.event('demo.all'), pairer.event('demo.all'), nodeClient.event('demo.all')]);

    const programEvents = (client: TestClient) => client.frames.filter((frame) => typeof frame.event === 'string' && (frame.event as string).startsWith('demo.'));
    expect(programEvents(reader).map((frame) => frame.event)).toEqual(['demo.read', 'demo.all']);
    expect(programEvents(pairer).map((frame) => frame.event)).toEqual(['demo.pairing', 'demo.all']);
    expect(programEvents(nodeClient).map((frame) => frame.event)).toEqual(['demo.nodes', 'demo.all']);
    // Each socket's broadcasts are numbered without gaps, whatever the others were sent.
    for (const client of [reader, pairer, nodeClient]) {
      const seqs = client.frames.filter((frame) => typeof frame.seq === 'number').map((frame) => frame.seq as number);
      expect(seqs).toEqual(seqs.map((_, index) => seqs[0]! + index));
    }
    expect(last.map((frame) => frame.payload)).toEqual([{ n: 4 }, { n: 4 }, { n: 4 }]);
    expect(gateway.features().events).toContain('demo.read');
    const { hello: later } = await operator(gateway.url, ['operator.read']);
    expect((later.features as { events: string[] }).events).toEqual(expect.arrayContaining(['demo.read', 'demo.nodes', 'demo.all']));
  });
});

describe('the gateway as a program sees it', () => {
  it('generates a token when none is given, and reads shared state through gateway.state', async () => {
    const gateway = createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent' });
    running.push(gateway);
    expect(gateway.lifecycle).toBe('created');
    const address = await gateway.listen();
    expect(gateway.lifecycle).toBe('listening');
    expect(address).toEqual({ host: '127.0.0.1', port: gateway.port, url: gateway.url });
    expect(gateway.tokenSource).toBe('generated');
    expect(gateway.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const { client } = await connectClient(gateway.url, gateway.token!, { scopes: ['operator.read'], client: { id: 'ui-app', version: '1', platform: 'linux', mode: 'ui', instanceId: 'ui-1' } });
    clients.push(client);
    expect(gateway.state.presence().map((entry) => entry.instanceId ?? entry.reason)).toEqual(['ui-1', 'self']);
    await gateway.close();
    expect(gateway.lifecycle).toBe('closed');
  });
});
