// actorgate as a library: `createGateway`, the options, the method and event types, and the errors.
export { createGateway, type Gateway, type GatewayAddress, type GatewayLifecycle, type GatewayStats } from './gateway/create-gateway.js';
export { OPTIONS, type GatewayOptions } from './config/options.js';
export { tuneHeapForGateway } from './gateway/heap-tuning.js';
export type { MethodAccess, MethodContext, MethodDefinition, MethodSession } from './methods/registry.js';
export { MethodError, type MethodErrorOptions } from './methods/errors.js';
export type { EventAudience } from './methods/events.js';
export type { GatewayState } from './supervisor/view.js';
export type { Features } from './protocol/hello.js';
export { GatewayError, ListenError, OptionError, type GatewayErrorCode } from './errors.js';
export { createLogger, type Logger, type LogLevelName } from './observability/logger.js';
export { nobleDeviceCrypto } from './auth/noble-crypto.js';
export type { DeviceCrypto } from './auth/device-proof.js';
export {
  CloseCode,
  DetailCode,
  ProtocolLimits,
  type ErrorCode,
  type ErrorShape,
  type OperatorScope,
  type PresenceEntry,
  type Role,
  type Session,
} from '../machines/protocol.js';
export type { NodeListEntry } from '../machines/nodes.js';
export { GATEWAY_VERSION } from './version.js';
