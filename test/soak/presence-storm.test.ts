// Reconnect storms of tracked clients: n clients join at once, half of them drop at once (TCP, no close frame), the
// rest reconnect at once. However the gateway coalesces presence for congested sockets, every client must end with
// a presence snapshot listing exactly the tracked clients connected, and see broadcast seqs without a gap.
// Size: ACTORGATE_STORM_CLIENTS (120). Presence traffic grows with the cube of n (every join sends everyone the whole
// list), so this stays well below the sizes where that hurts (see the README's reliability section).
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/create-gateway.js';
import { startGateway } from '../helpers/gateway.js';
import { createLogger } from '../../src/observability/logger.js';
import { CountingSink, envNumber, mib, settles, until } from '../helpers/chaos.js';
import { joinAsWatcher, type PresenceWatcher } from '../helpers/presence-watcher.js';

const CLIENTS = envNumber('ACTORGATE_STORM_CLIENTS', 120);
const TOKEN = 'storm-token';

let gateway: Gateway;
afterAll(async () => {
  await gateway?.close('storm finished');
});

describe('presence under reconnect storms', () => {
  it(`converges for every client after ${CLIENTS} tracked clients join at once, half drop at once and reconnect at once`, { timeout: 120_000 }, async () => {
    gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      handshakeTimeoutMs: 30_000,
      tickIntervalMs: 30_000,
      logger: createLogger('info', new CountingSink()),
      maxPreauthPerAddress: 0,
    });
    const idle = gateway.stats();
    const ids = Array.from({ length: CLIENTS }, () => randomUUID());
    const began = Date.now();

    const same = (a: Set<string> | undefined, b: Set<string>) => a !== undefined && a.size === b.size && [...b].every((id) => a.has(id));
    const converged = async (watchers: PresenceWatcher[], truth: Set<string>, what: string) => {
      await until(() => watchers.every((w) => same(w.latest, truth)), 20_000, what).catch(() => {
        const wrong = watchers.filter((w) => !same(w.latest, truth));
        const detail = wrong.slice(0, 3).map((w) => {
          const missing = [...truth].filter((id) => !w.latest?.has(id));
          const extra = [...(w.latest ?? [])].filter((id) => !truth.has(id));
          return `client ${watchers.indexOf(w)} (${w.presenceFrames} presence frames, last seq ${w.lastSeq}) lists ${w.latest?.size}: missing ${missing.map((id) => (id === w.instanceId ? 'itself' : id.slice(0, 8))).join(',') || 'none'}, ${extra.length} extra`;
        });
        throw new Error(`${what}: ${wrong.length} clients hold a stale presence list (truth ${truth.size}): ${detail.join('; ')}`);
      });
    };

    // 1. Everyone joins at once.
    let watchers = await Promise.all(ids.map((id) => joinAsWatcher(gateway.url, TOKEN, id)));
    const joinedMs = Date.now() - began;
    await converged(watchers, new Set(ids), 'after the join storm');

    // 2. Half of them drop at once, without a close frame.
    const dropped = watchers.slice(0, CLIENTS / 2);
    const kept = watchers.slice(CLIENTS / 2);
    for (const watcher of dropped) watcher.ws.terminate();
    await converged(kept, new Set(kept.map((w) => w.instanceId)), 'after the drop storm');

    // 3. They all come back at once, with the same instance ids.
    const back = await Promise.all(dropped.map((w) => joinAsWatcher(gateway.url, TOKEN, w.instanceId)));
    watchers = [...kept, ...back];
    await converged(watchers, new Set(ids), 'after the reconnect storm');
    const totalMs = Date.now() - began;

    const frames = watchers.map((w) => w.presenceFrames);
    const received = watchers.reduce((sum, w) => sum + w.bytes, 0);
    console.log(
      `presence storm: ${CLIENTS} tracked clients joined in ${joinedMs} ms, ${CLIENTS / 2} dropped and rejoined; converged in ${totalMs} ms; ` +
        `presence frames per client ${Math.min(...frames)}..${Math.max(...frames)}, ${mib(received)} received by the clients kept to the end`,
    );
    expect(watchers.flatMap((w) => w.gaps)).toEqual([]);
    await settles(() => gateway.stats(), { ...idle, sockets: CLIENTS, ready: CLIENTS, liveConnectionActors: CLIENTS, presenceEntries: CLIENTS }, 10_000);

    for (const watcher of watchers) watcher.ws.terminate();
    await settles(() => gateway.stats(), idle, 10_000);
  });
});
