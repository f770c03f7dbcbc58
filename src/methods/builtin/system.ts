// `health` and `system-presence`: what operators may read of the gateway itself. As in the reference,
// both are for operators holding `operator.read`; a node is refused (ROLE_NOT_ALLOWED), so it never reads
// other clients' addresses, device ids, roles or scopes.
import type { Define, Services } from './services.js';

export function defineSystemMethods(define: Define, services: Services): void {
  define('health', { scope: 'operator.read', handle: () => services().health() });
  define('system-presence', { scope: 'operator.read', handle: () => services().view.presence() });
}
