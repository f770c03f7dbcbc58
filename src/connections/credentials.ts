// The connection machine's credential check: admission (lockout, shared secret, device proof, pairing
// gate), then `auth.passed` or `auth.failed` back to the connection. A device token goes out only once the
// pairing that issued it is on disk: `auth.passed` then names the revision hello-ok waits for.
import type { AuthenticationRequest, ConnectionContext, ConnectionEvent } from '../../machines/connection.js';
import { CloseCode, type HandshakeRejection } from '../../machines/protocol.js';
import { admitting, type AdmissionPolicy } from '../auth/admission.js';
import type { AuthenticationResult } from '../auth/authenticate.js';

export interface CredentialServices {
  policy: AdmissionPolicy;
  /** The newest revision of the pairing state, and whether it is on disk. */
  pairingRevision(): number;
  isDurable(revision: number): boolean;
  /** Whether the connection is still there to hear the answer (a thread-pool check may outlive it). */
  isLive(connId: string): boolean;
}

/** A credential check that threw (a bug or a failing crypto backend): the client may retry. */
function internalAuthError(): HandshakeRejection {
  return {
    error: { code: 'UNAVAILABLE', message: 'could not check credentials; try again', retryable: true },
    closeCode: CloseCode.internalError,
    closeReason: 'internal error',
  };
}

export function checkCredentials(
  services: CredentialServices,
  context: ConnectionContext,
  request: AuthenticationRequest,
  reply: (event: ConnectionEvent) => void,
): void {
  const applicant = {
    connId: context.connId,
    remoteAddr: context.remoteAddr,
    challengeNonce: context.challengeNonce,
    isLocalClient: context.isLoopback && !context.origin,
    isLoopback: context.isLoopback,
    ...(context.origin !== undefined ? { origin: context.origin } : {}),
    ...(context.requestHost !== undefined ? { requestHost: context.requestHost } : {}),
  };
  const decide = (result: AuthenticationResult) => {
    if (!result.ok) {
      reply({ type: 'auth.failed', rejection: result.rejection });
      return;
    }
    const revision = services.pairingRevision();
    const unsaved = result.session.deviceToken !== undefined && !services.isDurable(revision);
    reply(unsaved ? { type: 'auth.passed', session: result.session, awaitPairingRevision: revision } : { type: 'auth.passed', session: result.session });
  };
  const outcome = admitting(request, applicant, services.policy);
  if (!(outcome instanceof Promise)) {
    decide(outcome);
    return;
  }
  // A device proof's signature is being checked on the thread pool; the connection waits in
  // `authenticating` (its handshake timeout still runs) and may be gone by the answer.
  outcome.then(
    (result) => services.isLive(context.connId) && decide(result),
    (error: unknown) => {
      services.policy.logger.error({ connId: context.connId, err: error, event: 'auth.error' }, 'credential check failed');
      if (services.isLive(context.connId)) reply({ type: 'auth.failed', rejection: internalAuthError() });
    },
  );
}
