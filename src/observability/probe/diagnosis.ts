// The likely root cause of a failed probe, as the troubleshooting guide reads a close: first what the
// gateway said (auth, pairing, protocol, revoked credentials, rate limit), else the time it took:
// under 100 ms the network or a firewall, up to the deadline a slow handshake, at it a handshake timeout.
// A socket that never opened and failed with a system error (refused, reset, unreachable, unresolved) is
// the network however long it took: a loaded machine can take longer than 100 ms to be refused.
import { classifyPolicyClose } from '../../../machines/client.js';
import type { ErrorShape } from '../../../machines/protocol.js';

export type RootCause =
  | 'network'
  | 'slow-handshake'
  | 'handshake-timeout'
  | 'auth-rejected'
  | 'pairing-required'
  | 'pairing-limit'
  | 'rate-limited'
  | 'protocol-error'
  | 'credentials-revoked';

export interface FailedProbe {
  code?: number;
  reason?: string;
  /** The connect error the gateway answered with, if it did. */
  error?: ErrorShape;
  /** From the start of the probe to the close. */
  durationMs: number;
  timeoutMs: number;
  /** True when this probe's own deadline ended it. */
  timedOut: boolean;
  /** True once the WebSocket opened (TCP and upgrade done). */
  opened?: boolean;
  /** The socket's error message, if it had one (e.g. `connect ECONNREFUSED 127.0.0.1:1`). */
  socketError?: string;
}

export interface Diagnosis {
  cause: RootCause;
  summary: string;
}

export const NETWORK_THRESHOLD_MS = 100;

export function diagnose(failure: FailedProbe): Diagnosis {
  const { code, reason = '', error } = failure;
  if (code === 4001) return { cause: 'credentials-revoked', summary: 'credentials revoked: get new ones (re-pair the device, or use the current token)' };
  if (code === 1002) return { cause: 'protocol-error', summary: `protocol error (${reason || 'no reason'}): client and gateway disagree on the protocol; a bug or a version mismatch` };
  if (code === 1008) {
    switch (classifyPolicyClose(reason, error)) {
      case 'auth-rejected':
        return { cause: 'auth-rejected', summary: `authentication rejected (${detailCode(error) ?? reason}): check --token/--password or the device key` };
      case 'pairing-required': {
        const requestId = (error?.details as { requestId?: unknown } | undefined)?.requestId;
        const approve = typeof requestId === 'string' ? `: an operator approves request ${requestId}` : ': an operator approves the device';
        return { cause: 'pairing-required', summary: `pairing required${approve}` };
      }
      case 'rate-limited': {
        const what = error?.message && detailCode(error) !== 'AUTH_RATE_LIMITED' ? error.message.replace(/; try again later$/, '') : 'too many failed attempts from this address';
        return { cause: 'rate-limited', summary: `${what}: retry in ${error?.retryAfterMs ?? 'a few'} ms` };
      }
      default:
        if (detailCode(error) === 'PAIRING_LIMIT_REACHED') return { cause: 'pairing-limit', summary: `${error?.message ?? 'pairing limit reached'}` };
        break;
    }
  }
  if (failure.timedOut || reason === 'handshake timeout' || failure.durationMs >= failure.timeoutMs) {
    return { cause: 'handshake-timeout', summary: `handshake timeout: no hello-ok within the deadline (${Math.round(failure.durationMs)} ms); a gateway that does not answer, or a proxy that holds the connection` };
  }
  const systemError = failure.opened ? undefined : networkErrorCode(failure.socketError);
  if (systemError !== undefined) {
    return { cause: 'network', summary: `network or firewall: ${systemError} after ${Math.round(failure.durationMs)} ms (refused, reset, unreachable, or nothing listening)` };
  }
  if (failure.durationMs < NETWORK_THRESHOLD_MS) {
    return { cause: 'network', summary: `network or firewall: the connection ended after ${Math.round(failure.durationMs)} ms (refused, reset, or nothing listening)` };
  }
  return { cause: 'slow-handshake', summary: `slow handshake: the connection ended after ${Math.round(failure.durationMs)} ms, before hello-ok and before the deadline` };
}

/** System errors that mean the connection itself failed, as Node names them in a socket error's message. */
const NETWORK_ERRORS = /\b(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EPIPE|ECONNABORTED)\b/;

function networkErrorCode(message: string | undefined): string | undefined {
  return message === undefined ? undefined : NETWORK_ERRORS.exec(message)?.[1];
}

function detailCode(error: ErrorShape | undefined): string | undefined {
  const code = (error?.details as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
