// What `--inspect` publishes is a redacted deep copy: no secret key's value leaves the process.
import { describe, expect, it } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { REDACTED, isSecretKey, redactSecrets } from '../../src/observability/inspect.js';

describe('redactSecrets', () => {
  it('redacts connect auth, device signatures, session and pairing tokens at any depth', () => {
    const event = {
      type: 'frame.connect',
      params: {
        auth: { token: 't0k', password: 'pw', deviceToken: 'dt', bootstrapToken: 'bt' },
        device: { id: 'dev', publicKey: 'pk', signature: 'sig', nonce: 'n' },
      },
      session: { deviceToken: 'dt2', role: 'node' },
      approved: [{ deviceId: 'd1', token: 'paired' }],
    };
    expect(redactSecrets(event)).toEqual({
      type: 'frame.connect',
      params: {
        auth: { token: REDACTED, password: REDACTED, deviceToken: REDACTED, bootstrapToken: REDACTED },
        device: { id: 'dev', publicKey: 'pk', signature: REDACTED, nonce: 'n' },
      },
      session: { deviceToken: REDACTED, role: 'node' },
      approved: [{ deviceId: 'd1', token: REDACTED }],
    });
    expect(event.params.auth.token).toBe('t0k');
  });

  it('redacts inside the JSON text of node command params and results', () => {
    const event = { type: 'node.invoke', paramsJSON: JSON.stringify({ url: 'u', auth: { token: 'x' } }), payloadJSON: 'not json' };
    expect(redactSecrets(event)).toEqual({
      type: 'node.invoke',
      paramsJSON: JSON.stringify({ url: 'u', auth: { token: REDACTED } }),
      payloadJSON: REDACTED,
    });
    expect(redactSecrets({ payloadJSON: 'null' })).toEqual({ payloadJSON: 'null' });
  });

  it('knows the secret keys by name', () => {
    for (const key of ['token', 'password', 'deviceToken', 'bootstrapToken', 'signature', 'accessToken', 'sharedSecret', 'Password']) {
      expect(isSecretKey(key), key).toBe(true);
    }
    for (const key of ['tokens', 'tokenHash', 'signatureVersion', 'publicKey', 'nonce', 'auth', 'deviceId']) {
      expect(isSecretKey(key), key).toBe(false);
    }
  });

  it('follows JSON: actor refs by toJSON, functions dropped, Maps as {}, cycles cut', () => {
    const actor = createActor(createMachine({ id: 'm' }));
    const cyclic: Record<string, unknown> = { name: 'c', fn: () => 1, map: new Map([['k', { token: 'x' }]]), big: 1n };
    cyclic.self = cyclic;
    expect(redactSecrets({ ref: actor, cyclic, list: [() => 1, undefined] })).toEqual({
      ref: { xstate$$type: 1, id: actor.id },
      cyclic: { name: 'c', map: {}, big: '1', self: '[Circular]' },
      list: [null, null],
    });
  });
});
