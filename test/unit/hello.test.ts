// hello-ok: the frame text with the pre-serialised features list is exactly the serialised response.
import { describe, expect, it } from 'vitest';
import { responseOk, type Session } from '../../machines/protocol.js';
import { helloOk, helloOkFrame, type HelloOkInput } from '../../src/protocol/hello.js';

const session: Session = {
  protocol: 4,
  role: 'operator',
  scopes: ['operator.read'],
  client: { id: 'cli', version: '1', platform: 'linux', mode: 'cli' },
  caps: [],
  commands: [],
  connectedAt: 1,
};

const input = (overrides: Partial<HelloOkInput> = {}): HelloOkInput => ({
  session,
  connId: 'conn-"1"',
  bootId: 'boot',
  snapshot: { presence: [{ ts: 1, host: 'h\u00e9' }], health: { ok: true }, stateVersion: { presence: 3, health: 1 }, uptimeMs: 12 },
  policy: { maxPayload: 1, maxBufferedBytes: 2, tickIntervalMs: 3 },
  ...overrides,
});

const features = { methods: ['connect', 'health', 'demo.echo'], events: ['tick', 'demo.tick'] };
const featuresJson = JSON.stringify(features);

describe('helloOkFrame', () => {
  it('is JSON.stringify(responseOk(id, helloOk(input, features))), byte for byte', () => {
    expect(helloOkFrame('c"1', input(), featuresJson)).toBe(JSON.stringify(responseOk('c"1', helloOk(input(), features))));
    expect(JSON.parse(helloOkFrame('c"1', input(), featuresJson)).payload.features).toEqual(features);
  });

  it('carries a device token when the session has one', () => {
    const withToken = input({ session: { ...session, deviceToken: 'tok' } });
    expect(helloOkFrame('c1', withToken, featuresJson)).toBe(JSON.stringify(responseOk('c1', helloOk(withToken, features))));
    expect(JSON.parse(helloOkFrame('c1', withToken, featuresJson)).payload.auth.deviceToken).toBe('tok');
  });
});
