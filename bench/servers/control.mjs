// The control side every bench server child shares: answers the runner over IPC with the process's own
// CPU time (process.cpuUsage, so CPU per operation comes from the server itself), its memory after a
// full GC, and how many connections it holds; stops on request or when the runner goes away.
import { getHeapSpaceStatistics } from 'node:v8';
import { serveRequests, sleep } from '../lib.mjs';

/** Memory after three GC passes (the first may only schedule finalizers and weak callbacks). */
export async function memoryAfterGc() {
  const gc = globalThis.gc;
  if (typeof gc !== 'function') throw new Error('the server child needs --expose-gc');
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(30);
  }
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size]));
  return { rss, heapUsed, heapTotal, external, arrayBuffers, newSpace: (spaces.new_space ?? 0) + (spaces.new_large_object_space ?? 0) };
}

/** CPU time of this process so far, in microseconds (user + system). */
export function cpuMicros() {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/**
 * Serves a started server: `{ port, connections(), close(), stats?() }`. Announces `{ ready, port }`.
 */
export function serveServer(server) {
  serveRequests(
    {
      cpu: () => cpuMicros(),
      mem: async () => ({ ...(await memoryAfterGc()), connections: server.connections() }),
      count: () => server.connections(),
      stats: () => server.stats?.() ?? null,
    },
    { onStop: () => server.close() },
  );
  process.send({ ready: true, port: server.port, pid: process.pid });
}
