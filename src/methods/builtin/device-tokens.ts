// A paired device's token and label, and a paired node's label: `device.token.rotate|revoke`,
// `device.pair.rename`, `node.rename` (operator.pairing), with the reference's rules on who may manage what.
// A caller that came in with a device's own token manages only that device unless it holds operator.admin;
// tokens of a role other than operator are admin-only; a token never grants more than the device's approved
// scopes, nor more than the caller holds. A rotated token is handed only to its own device: in the answer
// when that device asked, else on the device's next connect.
import { Type } from '@sinclair/typebox';
import { DetailCode, OPERATOR_SCOPES, hasScope, type OperatorScope } from '../../../machines/protocol.js';
import type { PublicDevice } from '../../../machines/pairing.js';
import { MethodError } from '../errors.js';
import type { MethodContext } from '../registry.js';
import { forward, type Define, type Services } from './services.js';

const Id = Type.String({ minLength: 1 });
const RenameDeviceParams = Type.Object({ deviceId: Id, label: Type.String({ minLength: 1, maxLength: 64 }) });
const RotateParams = Type.Object({ deviceId: Id, role: Id, scopes: Type.Optional(Type.Array(Id, { maxItems: 32 })) });
const RevokeParams = Type.Object({ deviceId: Id, role: Id });
const RenameNodeParams = Type.Object({ nodeId: Id, displayName: Type.String({ minLength: 1, maxLength: 128 }) });

/** Who is asking: the device it proved to hold the token of (if any), and its scopes. */
interface Authz {
  callerDeviceId: string | undefined;
  callerScopes: readonly string[];
  isAdmin: boolean;
}

function authzOf(context: MethodContext): Authz {
  const { session } = context;
  return {
    callerDeviceId: session.deviceTokenAuth ? session.deviceId : undefined,
    callerScopes: session.scopes,
    isAdmin: session.scopes.includes('operator.admin'),
  };
}

/** A caller with a device token manages only its own device, unless it is an admin. */
function deniesCrossDevice(authz: Authz, targetId: string): boolean {
  return authz.callerDeviceId !== undefined && authz.callerDeviceId !== targetId && !authz.isAdmin;
}

/** Whether `granted` covers `scope`: itself, or an operator scope that admin or write implies. */
function covers(granted: readonly string[], scope: string): boolean {
  return granted.includes(scope) || (OPERATOR_SCOPES.includes(scope as OperatorScope) && hasScope(granted, scope as OperatorScope));
}

/** The reference's words for each refusal (the CLI prints them). */
const DENIED_MESSAGES = {
  'device.token.rotate': 'device token rotation denied',
  'device.token.revoke': 'device token revocation denied',
  'device.pair.rename': 'device pairing rename denied',
  'node.rename': 'node rename denied',
} as const;
type ManagementMethod = keyof typeof DENIED_MESSAGES;

/** A refusal, logged at warn with why (ownership, role, scope) and answered INVALID_REQUEST `DEVICE_MANAGEMENT_DENIED`. */
function denied(context: MethodContext, method: ManagementMethod, targetId: string, reason: string, scope?: string): MethodError {
  context.logger.warn({ event: 'device.management_denied', method, targetId, reason, ...(scope ? { scope } : {}) }, DENIED_MESSAGES[method]);
  return new MethodError('INVALID_REQUEST', DENIED_MESSAGES[method], { details: { code: DetailCode.DEVICE_MANAGEMENT_DENIED, reason, ...(scope ? { scope } : {}) } });
}

/**
 * The checks rotate and revoke share; the device (undefined when unknown: the supervisor answers that).
 * `scopes` is what the token will grant: within the device's approval, and within the caller's own scopes.
 */
function checkTokenManagement(services: Services, context: MethodContext, method: 'device.token.rotate' | 'device.token.revoke', params: { deviceId: string; role: string }, scopes?: string[]): PublicDevice | undefined {
  const authz = authzOf(context);
  if (deniesCrossDevice(authz, params.deviceId)) throw denied(context, method, params.deviceId, 'device-ownership-mismatch');
  if (params.role !== 'operator' && !authz.isAdmin) throw denied(context, method, params.deviceId, 'role-management-requires-admin');
  const device = services().view.pairedDevice(params.deviceId);
  if (!device) return undefined;
  if (!device.roles.includes(params.role as PublicDevice['role'])) throw denied(context, method, params.deviceId, 'unknown-device-or-role');
  const target = scopes ?? device.tokens[0]?.scopes ?? device.scopes;
  const outside = target.find((scope) => !covers(device.scopes, scope));
  if (outside !== undefined) throw denied(context, method, params.deviceId, 'scope-outside-approved-baseline', outside);
  const missing = params.role === 'operator' ? target.find((scope) => !covers(authz.callerScopes, scope)) : undefined;
  if (missing !== undefined) throw denied(context, method, params.deviceId, 'caller-missing-scope', missing);
  return device;
}

export function defineDeviceTokenMethods(define: Define, services: Services): void {
  const scope = 'operator.pairing' as const;

  define('device.token.rotate', {
    scope,
    params: RotateParams,
    handle: async (params, context) => {
      const scopes = params.scopes === undefined ? undefined : [...new Set(params.scopes)];
      checkTokenManagement(services, context, 'device.token.rotate', params, scopes);
      // The new token goes in the answer only to the device itself; for anyone else it is not even minted.
      const inBand = authzOf(context).callerDeviceId === params.deviceId;
      const token = inBand ? services().newDeviceToken() : undefined;
      const answer = (await forward(services, context, {
        type: 'device.token.rotate',
        deviceId: params.deviceId,
        ...(scopes !== undefined ? { scopes } : {}),
        ...(token !== undefined ? { tokenHash: services().hashDeviceToken(token) } : {}),
      })) as Record<string, unknown>;
      context.logger.info({ event: 'device.token.rotated', deviceId: params.deviceId, tokenDelivery: answer.tokenDelivery }, 'device token rotated');
      return token === undefined ? answer : { ...answer, token };
    },
  });

  define('device.token.revoke', {
    scope,
    params: RevokeParams,
    handle: async (params, context) => {
      checkTokenManagement(services, context, 'device.token.revoke', params);
      const answer = await forward(services, context, { type: 'device.token.revoke', deviceId: params.deviceId });
      context.logger.info({ event: 'device.token.revoked', deviceId: params.deviceId }, 'device token revoked');
      return answer;
    },
  });

  define('device.pair.rename', {
    scope,
    params: RenameDeviceParams,
    handle: (params, context) => {
      const label = params.label.trim();
      if (label === '') throw new MethodError('INVALID_REQUEST', 'label required');
      const authz = authzOf(context);
      if (deniesCrossDevice(authz, params.deviceId)) throw denied(context, 'device.pair.rename', params.deviceId, 'device-ownership-mismatch');
      const device = services().view.pairedDevice(params.deviceId);
      if (device && device.role !== 'operator' && authz.callerDeviceId !== undefined && !authz.isAdmin) {
        throw denied(context, 'device.pair.rename', params.deviceId, 'role-management-requires-admin');
      }
      return forward(services, context, { type: 'device.pair.rename', deviceId: params.deviceId, label });
    },
  });

  define('node.rename', {
    scope,
    params: RenameNodeParams,
    handle: (params, context) => {
      if (deniesCrossDevice(authzOf(context), params.nodeId)) throw denied(context, 'node.rename', params.nodeId, 'device-ownership-mismatch');
      const displayName = params.displayName.trim();
      if (displayName === '') throw new MethodError('INVALID_REQUEST', 'displayName required');
      return forward(services, context, { type: 'node.rename', nodeId: params.nodeId, displayName });
    },
  });
}
