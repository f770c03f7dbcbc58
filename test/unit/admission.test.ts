// Admission with a device proof: its signature is checked off the event loop (a promise) only when the
// rest of the request could pass; a wrong shared secret or a locked-out address is answered at once.
import { createActor } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuthenticationRequest } from '../../machines/connection.js';
import { EMPTY_PAIRING_STATE } from '../../machines/pairing.js';
import { supervisorMachine } from '../../machines/supervisor.js';
import { admit, admitting, type AdmissionPolicy } from '../../src/auth/admission.js';
import { nobleDeviceCrypto } from '../../src/auth/noble-crypto.js';
import { nodeDeviceCrypto } from '../../src/auth/node-crypto.js';
import { AuthFailureLimiter } from '../../src/auth/rate-limit.js';
import { SupervisorView } from '../../src/supervisor/view.js';
import { createLogger } from '../../src/observability/logger.js';
import { connectParams } from '../helpers/client.js';
import { createDevice, signDevice } from '../helpers/device.js';

const TOKEN = 'admission-test-token';
const NONCE = 'nonce-1';
const supervisors: { stop(): void }[] = [];
afterEach(() => supervisors.splice(0).forEach((actor) => actor.stop()));

/** The paired devices as the gateway's admission reads them, and the supervisor they report to. */
function pairingsOf(supervisor: ReturnType<typeof createActor<typeof supervisorMachine>>): AdmissionPolicy['pairings'] {
  return new SupervisorView(supervisor).devicePairings((event) => supervisor.send(event));
}

function policy(overrides: Partial<AdmissionPolicy> = {}): AdmissionPolicy {
  const supervisor = createActor(supervisorMachine, {
    input: {
      self: { host: 'h', ip: '127.0.0.1', version: '1', platform: 'linux', mode: 'gateway', reason: 'self', ts: 0 },
      tickIntervalMs: 60_000,
      pairingMode: 'auto-local',
      pairing: EMPTY_PAIRING_STATE,
    },
  }).start();
  supervisors.push(supervisor);
  return {
    auth: { mode: 'token', token: TOKEN },
    crypto: nodeDeviceCrypto,
    pairingMode: 'auto-local',
    authLimiter: new AuthFailureLimiter({ maxFailures: 2, windowMs: 60_000, lockoutMs: 60_000, exemptLoopback: false }),
    authFailureWindowMs: 60_000,
    pairings: pairingsOf(supervisor),
    allowedOrigins: [],
    silentPairings: new AuthFailureLimiter({ maxFailures: 0, windowMs: 60_000, lockoutMs: 60_000, exemptLoopback: false }),
    nodeIds: { claimRefusal: (session) => new SupervisorView(supervisor).nodeIdClaimRefusal(session) },
    logger: createLogger('silent'),
    ...overrides,
  };
}

function request(token: string, tamper = false): AuthenticationRequest {
  const params = connectParams({ auth: { token } });
  const device = signDevice(createDevice(), params, NONCE);
  params.device = tamper ? { ...device, signature: device.signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) } : device;
  return { requestId: 'r1', params, protocol: 4 };
}

const applicant = { connId: 'c1', remoteAddr: '10.0.0.7', challengeNonce: NONCE, isLocalClient: true, isLoopback: false };

describe('admitting', () => {
  it('checks a device proof off the event loop and answers as admit does', async () => {
    const good = admitting(request(TOKEN), applicant, policy());
    expect(good).toBeInstanceOf(Promise);
    expect(await good).toMatchObject({ ok: true, session: { deviceId: expect.any(String), deviceToken: expect.any(String) } });

    const tampered = request(TOKEN, true);
    const bad = admitting(tampered, applicant, policy());
    expect(bad).toBeInstanceOf(Promise);
    const sync = admit(tampered, applicant, policy());
    expect(await bad).toEqual(sync);
    expect(sync).toMatchObject({ ok: false, rejection: { error: { details: { code: 'DEVICE_AUTH_SIGNATURE_INVALID' } } } });
  });

  it('answers at once, without checking a signature, for a wrong shared secret or a locked-out address', () => {
    const locking = policy();
    const wrong = admitting(request('not-the-token'), applicant, locking);
    expect(wrong).not.toBeInstanceOf(Promise);
    expect(wrong).toMatchObject({ ok: false, rejection: { error: { message: expect.stringContaining('unauthorized') } } });
    admitting(request('not-the-token'), applicant, locking); // the second failure locks the address out
    const locked = admitting(request(TOKEN), applicant, locking);
    expect(locked).not.toBeInstanceOf(Promise);
    expect(locked).toMatchObject({ ok: false, rejection: { error: { details: { code: 'AUTH_RATE_LIMITED' } } } });
  });

  it('stays synchronous without an async verifier (noble) and without a device', () => {
    expect(admitting(request(TOKEN), applicant, policy({ crypto: nobleDeviceCrypto }))).toMatchObject({ ok: true });
    const plain: AuthenticationRequest = { requestId: 'r2', params: connectParams({ auth: { token: TOKEN } }), protocol: 4 };
    expect(admitting(plain, applicant, policy())).toMatchObject({ ok: true });
  });
});

describe('the node id gate', () => {
  const nodeRequest = (clientId: string): AuthenticationRequest => ({
    requestId: 'r3',
    params: connectParams({ auth: { token: TOKEN }, role: 'node', scopes: [], client: { id: clientId, version: '1', platform: 'linux', mode: 'node' } }),
    protocol: 4,
  });

  it("refuses a node without a device identity a device id's form as its client id, 1008 node id reserved", () => {
    const deviceId = createDevice().id;
    expect(admit(nodeRequest(deviceId), applicant, policy())).toEqual({
      ok: false,
      rejection: {
        error: {
          code: 'INVALID_REQUEST',
          message: `node id ${deviceId} is a device id: only that device, proving its key, may use it`,
          details: { code: 'NODE_ID_RESERVED', nodeId: deviceId },
        },
        closeCode: 1008,
        closeReason: 'node id reserved',
      },
    });
    // Not a credential failure: it does not count towards the address's lockout (2 failures here).
    const gate = policy();
    for (let i = 0; i < 3; i++) admit(nodeRequest(deviceId), applicant, gate);
    expect(admit(nodeRequest('build-box'), applicant, gate)).toMatchObject({ ok: true, session: { client: { id: 'build-box' } } });
  });
});
