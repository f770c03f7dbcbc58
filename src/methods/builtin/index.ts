// The gateway's own methods, registered as a program's are.
import { ProtocolLimits } from '../../../machines/protocol.js';
import type { MethodRegistry } from '../registry.js';
import { defineDeviceTokenMethods } from './device-tokens.js';
import { ACCEPTED_NODE_METHODS, defineNodeMethods } from './nodes.js';
import { definePairingMethods } from './pairing.js';
import type { Define, Services } from './services.js';
import { defineSystemMethods } from './system.js';

export type { BuiltinServices } from './services.js';
export { ACCEPTED_NODE_METHODS } from './nodes.js';

/**
 * The built-in methods that take frames up to the protocol's maxPayload: an invoke's params, and what nodes
 * send (results, events, inventories). Every other built-in takes no or small params: its frames are capped
 * at ProtocolLimits.smallFrameBytes.
 */
export const FULL_FRAME_METHODS: ReadonlySet<string> = new Set(['node.invoke', 'node.invoke.result', 'node.event', ...ACCEPTED_NODE_METHODS]);

export function defineBuiltinMethods(registry: MethodRegistry, services: Services): void {
  const define: Define = (name, definition) => {
    const maxFrameBytes = FULL_FRAME_METHODS.has(name) ? ProtocolLimits.maxPayloadBytes : ProtocolLimits.smallFrameBytes;
    registry.define(name, { ...definition, maxFrameBytes }, 'builtin');
  };
  defineSystemMethods(define, services);
  defineNodeMethods(define, services);
  definePairingMethods(define, services);
  defineDeviceTokenMethods(define, services);
}
