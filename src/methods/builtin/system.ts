// `health` and `system-presence`: what any client may read of the gateway itself.
import type { Define, Services } from './services.js';

export function defineSystemMethods(define: Define, services: Services): void {
  define('health', { role: 'any', scope: 'operator.read', handle: () => services().health() });
  define('system-presence', { role: 'any', scope: 'operator.read', handle: () => services().view.presence() });
}
