// The pairing gate an authenticated operator device passes before its connection is ready: a paired
// device gets its token back, a local one (auto-local mode) is paired on the spot, any other one
// gets NOT_PAIRED with the id of the pairing request an operator can approve.
import { randomFillSync } from 'node:crypto';
import type { DeviceAccess, PairingMode } from '../../machines/pairing.js';
import { CloseCode, DetailCode, type ConnectParams, type HandshakeRejection, type Session } from '../../machines/protocol.js';
import type { SupervisorEvent } from '../../machines/supervisor.js';

/** What the pairing gate reads of the paired devices and pending requests, and how it reports to the supervisor. */
export interface DevicePairings {
  deviceAccess(deviceId: string, mode: PairingMode, isLocalClient: boolean): DeviceAccess;
  pendingDeviceRequestId(deviceId: string): string | undefined;
  deviceTokenOf(deviceId: string): string | undefined;
  /** A silent pairing or a new pairing request, for the supervisor. */
  report(event: Extract<SupervisorEvent, { type: 'device.pair.silentlyApproved' | 'device.pair.requested' }>): void;
}

export interface PairingGateContext {
  mode: PairingMode;
  isLocalClient: boolean;
  remoteAddr: string;
  pairings: DevicePairings;
}

export type PairingGateResult = { ok: true; session: Session } | { ok: false; rejection: HandshakeRejection };

const TOKEN_BYTES = 32;
/** Random bytes drawn from the CSPRNG 4 KiB at a time (one call per 128 tokens, not one per token). */
const tokenPool = Buffer.alloc(TOKEN_BYTES * 128);
let tokenPoolOffset = tokenPool.length;

/** 32 random bytes, base64url: what a paired device reconnects with. */
export function newDeviceToken(): string {
  if (tokenPoolOffset + TOKEN_BYTES > tokenPool.length) {
    randomFillSync(tokenPool);
    tokenPoolOffset = 0;
  }
  const start = tokenPoolOffset;
  tokenPoolOffset += TOKEN_BYTES;
  const token = tokenPool.toString('base64url', start, tokenPoolOffset);
  tokenPool.fill(0, start, tokenPoolOffset); // a token's bytes do not stay behind in the pool
  return token;
}

export function passPairingGate(session: Session, params: ConnectParams, gate: PairingGateContext): PairingGateResult {
  const deviceId = session.deviceId;
  // Nodes are approved through node pairing, and a client without a device identity has nothing to pair.
  if (session.role !== 'operator' || deviceId === undefined) return { ok: true, session };
  const access = gate.pairings.deviceAccess(deviceId, gate.mode, gate.isLocalClient);
  if (access.kind === 'paired') return { ok: true, session: { ...session, deviceToken: access.device.token } };

  const identity = {
    deviceId,
    role: session.role,
    scopes: session.scopes,
    clientId: session.client.id,
    clientMode: session.client.mode,
    ...(params.device?.publicKey !== undefined ? { publicKey: params.device.publicKey } : {}),
    ...(session.client.displayName !== undefined ? { displayName: session.client.displayName } : {}),
    platform: session.client.platform,
  };
  if (access.kind === 'approve-silently') {
    const token = newDeviceToken();
    const now = session.connectedAt;
    gate.pairings.report({
      type: 'device.pair.silentlyApproved',
      device: { ...identity, token, createdAtMs: now, approvedAtMs: now, silent: true },
    });
    return { ok: true, session: { ...session, deviceToken: token } };
  }

  gate.pairings.report({ type: 'device.pair.requested', request: { ...identity, remoteIp: gate.remoteAddr } });
  return {
    ok: false,
    rejection: {
      error: {
        code: 'NOT_PAIRED',
        message: 'pairing required: approve this device with device.pair.approve',
        details: { code: DetailCode.PAIRING_REQUIRED, requestId: gate.pairings.pendingDeviceRequestId(deviceId), deviceId },
      },
      closeCode: CloseCode.policyViolation,
      closeReason: 'pairing required',
    },
  };
}
