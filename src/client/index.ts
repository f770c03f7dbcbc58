// `actorgate/client` for browsers, Deno and Bun (their global WebSocket): no Node imports here.
export {
  CLIENT_VERSION,
  GatewayRequestError,
  createGatewayClient,
  statusOf,
  type ClientActor,
  type ClientNotice,
  type ConnectionStatus,
  type GatewayClient,
  type GatewayClientOptions,
  type HelloOk,
  type RequestOptions,
  type StopInfo,
} from './client.js';
export {
  createDeviceIdentity,
  identityFromJson,
  identityFromSecretKey,
  identityToJson,
  signDeviceProof,
  type DeviceIdentity,
  type DeviceIdentityJson,
} from './identity.js';
export type { GatewayMethod, GatewayMethods, NodeEntry, ParamsOf, ResultOf } from './methods.js';
export type { WebSocketConstructor, WebSocketLike } from './socket.js';
export {
  DEFAULT_BACKOFF,
  backoffCeiling,
  backoffDelay,
  clientMachine,
  type BackoffPolicy,
  type CloseDecision,
  type StopReason,
} from '../../machines/client.js';
