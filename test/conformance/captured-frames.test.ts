// Real frames captured from openclaw 2026.9.6 pass the gateway's schema and authentication unchanged.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { authenticate } from '../../src/auth/authenticate.js';
import { nobleDeviceCrypto } from '../../src/auth/noble-crypto.js';
import { nodeDeviceCrypto } from '../../src/auth/node-crypto.js';
import { decodeTextFrame } from '../../src/protocol/decode.js';

const load = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/conformance/${name}`, import.meta.url), 'utf8'));

describe.each([nodeDeviceCrypto, nobleDeviceCrypto])('captured frames with the $name verifier', (crypto) => {
  it('admits the node host connect frame: schema, token and v3 device signature', () => {
    const vector = load('node-host-connect.json');
    const event = decodeTextFrame(JSON.stringify(vector.connect));
    expect(event.type).toBe('frame.connect');
    if (event.type !== 'frame.connect') return;
    const result = authenticate(
      { requestId: event.id, params: event.params, protocol: 4 },
      {
        auth: { mode: 'token', token: vector.gatewayToken },
        challengeNonce: vector.challenge.payload.nonce,
        now: vector.connect.params.device.signedAt + 5,
        crypto,
      },
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.session).toMatchObject({ role: 'node', deviceId: vector.expect.deviceId, protocol: 4 });
    expect(result.session.commands).toContain('system.which');
  });

  it('refuses the same frame replayed against another challenge', () => {
    const vector = load('node-host-connect.json');
    const event = decodeTextFrame(JSON.stringify(vector.connect));
    if (event.type !== 'frame.connect') throw new Error('expected a connect');
    const result = authenticate(
      { requestId: event.id, params: event.params, protocol: 4 },
      { auth: { mode: 'token', token: vector.gatewayToken }, challengeNonce: 'another-nonce', now: vector.connect.params.device.signedAt + 5, crypto },
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.rejection.error.details).toMatchObject({ code: 'DEVICE_AUTH_NONCE_MISMATCH' });
  });
});

describe('captured CLI connect', () => {
  it('passes the schema and token auth without a device', () => {
    const vector = load('cli-connect.json');
    const event = decodeTextFrame(JSON.stringify(vector.connect));
    expect(event.type).toBe('frame.connect');
    if (event.type !== 'frame.connect') return;
    const result = authenticate(
      { requestId: event.id, params: event.params, protocol: 4 },
      { auth: { mode: 'token', token: 'testtoken123' }, challengeNonce: vector.challenge.payload.nonce, now: Date.now(), crypto: nodeDeviceCrypto },
    );
    expect(result.ok).toBe(true);
  });
});
