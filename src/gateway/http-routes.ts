// The plain HTTP routes of the gateway's port, and the health payload the `health` method shares.
import type { HttpRoute } from '../transport/types.js';
import { GATEWAY_VERSION } from '../version.js';

export interface HealthSource {
  startedAt: number;
  openSockets(): number;
  readySockets(): number;
}

/** What `health` answers (and hello-ok's snapshot carries). */
export function healthPayload(source: HealthSource) {
  const now = Date.now();
  return {
    ok: true,
    ts: now,
    durationMs: 0,
    version: GATEWAY_VERSION,
    uptimeMs: now - source.startedAt,
    connections: { open: source.openSockets(), ready: source.readySockets() },
  };
}

export function httpRoutes(source: HealthSource): HttpRoute[] {
  return [
    {
      method: 'GET',
      path: '/healthz',
      answer: () => ({ status: 200, body: { ok: true, version: GATEWAY_VERSION, uptimeMs: Date.now() - source.startedAt } }),
    },
  ];
}
