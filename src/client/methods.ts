// Typed requests: the gateway's methods with their params (as PROTOCOL.md gives them) and results.
import type { NodeListEntry } from '../../machines/nodes.js';
import type { PresenceEntry } from '../../machines/protocol.js';

/** A node as `node.list` and `node.describe` give it. */
export type NodeEntry = NodeListEntry;

export interface GatewayMethods {
  health: { params: undefined | Record<string, never>; result: { ok: boolean; [key: string]: unknown } };
  'system-presence': { params: undefined | Record<string, never>; result: PresenceEntry[] };
  'node.list': { params: undefined | Record<string, never>; result: { ts: number; nodes: NodeEntry[] } };
  'node.describe': { params: { nodeId: string }; result: NodeEntry };
  'node.invoke': {
    params: { nodeId: string; command: string; params?: unknown; timeoutMs?: number; idempotencyKey: string };
    result: { ok: boolean; nodeId: string; command: string; payload?: unknown; payloadJSON?: string };
  };
  'node.invoke.result': {
    params: { id: string; nodeId: string; ok: boolean; payloadJSON?: string; error?: { code?: string; message?: string } };
    result: { ok: true; ignored?: boolean };
  };
  'node.event': { params: { event: string; payloadJSON?: string }; result: unknown };
  'node.pair.list': { params: undefined | Record<string, never>; result: { pending: unknown[]; paired: unknown[] } };
  'node.pair.approve': { params: { requestId: string }; result: unknown };
  'node.pair.reject': { params: { requestId: string }; result: unknown };
  'node.pair.remove': { params: { nodeId: string }; result: unknown };
  'device.pair.list': { params: undefined | Record<string, never>; result: { pending: unknown[]; paired: unknown[] } };
  'device.pair.approve': { params: { requestId: string }; result: unknown };
  'device.pair.reject': { params: { requestId: string }; result: unknown };
  'device.pair.remove': { params: { deviceId: string }; result: unknown };
  'device.pair.rename': { params: { deviceId: string; label: string }; result: { deviceId: string; label: string } };
  'device.token.rotate': {
    params: { deviceId: string; role: string; scopes?: string[] };
    result: { deviceId: string; role: string; scopes: string[]; rotatedAtMs: number; tokenDelivery?: 'in-band' | 'withheld-cross-device'; token?: string };
  };
  'device.token.revoke': { params: { deviceId: string; role: string }; result: { deviceId: string; role: string; revokedAtMs: number } };
  'node.rename': { params: { nodeId: string; displayName: string }; result: { nodeId: string; displayName: string } };
}

export type GatewayMethod = keyof GatewayMethods;
export type ParamsOf<M extends GatewayMethod> = GatewayMethods[M]['params'];
export type ResultOf<M extends GatewayMethod> = GatewayMethods[M]['result'];
