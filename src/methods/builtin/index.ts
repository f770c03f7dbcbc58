// The gateway's own methods, registered as a program's are.
import type { MethodRegistry } from '../registry.js';
import { defineDeviceTokenMethods } from './device-tokens.js';
import { defineNodeMethods } from './nodes.js';
import { definePairingMethods } from './pairing.js';
import type { Define, Services } from './services.js';
import { defineSystemMethods } from './system.js';

export type { BuiltinServices } from './services.js';
export { ACCEPTED_NODE_METHODS } from './nodes.js';

export function defineBuiltinMethods(registry: MethodRegistry, services: Services): void {
  const define: Define = (name, definition) => registry.define(name, definition, 'builtin');
  defineSystemMethods(define, services);
  defineNodeMethods(define, services);
  definePairingMethods(define, services);
  defineDeviceTokenMethods(define, services);
}
