// A join storm of tracked clients must cost bounded traffic, memory and time. Every join changes presence, and a
// presence frame carries the whole list (up to 200 entries): sent to everyone after every join, a storm of n
// joins costs O(n^3) bytes (200 joins once took 6.4 s, ~1 GB of RSS and 453 MiB of presence frames). The gateway
// coalesces presence over a trailing window and never queues a presence frame behind an unsent one, so the
// storm costs a few frames per client; every client still ends on the newest snapshot, with gapless seqs.
// Size: ACTORGATE_STORM_BOUNDED_CLIENTS (200; above 200 the list holds the newest 200).
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/create-gateway.js';
import { startGateway } from '../helpers/gateway.js';
import { createLogger } from '../../src/observability/logger.js';
import { PRESENCE_BYTES_PER_SECOND } from '../../src/gateway/supervisor-wiring.js';
import { CountingSink, envNumber, mib, settles, until } from '../helpers/chaos.js';
import { joinAsWatcher, type PresenceWatcher } from '../helpers/presence-watcher.js';

const CLIENTS = envNumber('ACTORGATE_STORM_BOUNDED_CLIENTS', 200);
const TOKEN = 'storm-token';
/** A presence list holds at most this many entries besides the gateway's own. */
const PRESENCE_CAP = 200;
// Before the fix (one frame per join to everyone): 3.1-3.4 s, 3.6 MiB for the busiest client, ~490 MiB in all,
// RSS +120-145 MiB. After: ~0.5 s, 0.1 MiB, ~20 MiB, RSS +50-60 MiB.
/** Presence bytes one client may receive in the storm: a couple of dozen full lists (200 entries are ~40 KiB). */
const MAX_PRESENCE_BYTES_PER_CLIENT = 1024 * 1024;
/**
 * Presence bytes all clients together may receive: 64 MiB, or, on a machine loaded enough that the storm lasts
 * longer, the rate the gateway paces presence to over the storm's length (half again for the window being set
 * from the previous, smaller frame) plus one burst.
 */
const presenceBudget = (stormMs: number) =>
  Math.max(64 * 1024 * 1024, (1.5 * PRESENCE_BYTES_PER_SECOND * stormMs) / 1000 + 8 * 1024 * 1024);
/** Growth of this process's RSS (gateway and clients together) over the storm. */
const MAX_RSS_GROWTH = 200 * 1024 * 1024;
/** From the first dial to every client holding the full list, with room for a loaded 2-core machine. */
const MAX_STORM_MS = 10_000;

let gateway: Gateway | undefined;
afterAll(async () => {
  await gateway?.close('storm finished');
});

describe('a presence join storm is bounded', () => {
  it(`${CLIENTS} tracked clients join at once: bounded bytes per client, memory and time; everyone ends on the full list`, { timeout: 60_000 }, async () => {
    gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      handshakeTimeoutMs: 30_000,
      tickIntervalMs: 60_000,
      logger: createLogger('info', new CountingSink()),
      maxPreauthPerAddress: 0,
    });
    const idle = gateway.stats();
    const ids = Array.from({ length: CLIENTS }, () => randomUUID());
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 25);
    const began = Date.now();
    let watchers: PresenceWatcher[] = [];
    try {
      watchers = await Promise.all(ids.map((id) => joinAsWatcher(gateway!.url, TOKEN, id)));
      const joinedMs = Date.now() - began;
      // The gateway's list once everyone is in: all of them up to the list's cap (200), else the newest 200.
      const truth = new Set(gateway.state.presence().flatMap((entry) => (entry.reason === 'self' ? [] : [entry.instanceId as string])));
      if (CLIENTS <= PRESENCE_CAP) expect(truth).toEqual(new Set(ids));
      else expect(truth.size).toBe(PRESENCE_CAP);
      const full = (w: PresenceWatcher) => w.latest !== undefined && w.latest.size === truth.size && [...truth].every((id) => w.latest!.has(id));
      await until(() => watchers.every(full), MAX_STORM_MS, 'every client holding the full presence list').catch((error: Error) => {
        const stale = watchers.filter((w) => !full(w));
        throw new Error(`${error.message}: ${stale.length} stale, e.g. one lists ${stale[0]?.latest?.size} of ${truth.size}`);
      });
      const stormMs = Date.now() - began;
      // A barrier rather than a wait, so that what is counted is the storm's whole cost: one client leaves, a
      // presence change after the storm's last. Whatever the gateway still held or had in flight for a client was
      // sent before the frame that tells it of the leave: everything before that frame is counted (that frame is
      // not, nor anything the leaver got after the storm was over).
      const leaver = watchers.find((w) => truth.has(w.instanceId))!; // one in the list, so that its leave changes it
      const others = watchers.filter((w) => w !== leaver);
      const leaverBytes = leaver.presenceBytes;
      const leaverFrames = leaver.presenceFrames;
      leaver.ws.close(1000);
      await until(() => others.every((w) => w.latest !== undefined && !w.latest.has(leaver.instanceId)), MAX_STORM_MS, 'every client told of the leave');
      clearInterval(sampler);
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);

      const bytes = [leaverBytes, ...others.map((w) => w.presenceBytes - w.lastPresenceBytes)];
      const frames = [leaverFrames, ...others.map((w) => w.presenceFrames - 1)];
      const total = bytes.reduce((sum, n) => sum + n, 0);
      console.log(
        `bounded presence storm: ${CLIENTS} tracked clients joined in ${joinedMs} ms, all hold the full list after ${stormMs} ms; ` +
          `presence frames per client ${Math.min(...frames)}..${Math.max(...frames)}, bytes per client up to ${mib(Math.max(...bytes))}, ` +
          `${mib(total)} in all; RSS +${mib(rssPeak - rssBefore)} at the peak`,
      );
      expect(watchers.flatMap((w) => w.gaps)).toEqual([]);
      expect(Math.max(...bytes)).toBeLessThanOrEqual(MAX_PRESENCE_BYTES_PER_CLIENT);
      expect(total).toBeLessThanOrEqual(presenceBudget(stormMs));
      expect(rssPeak - rssBefore).toBeLessThanOrEqual(MAX_RSS_GROWTH);
      expect(stormMs).toBeLessThanOrEqual(MAX_STORM_MS);
      // All but the one that left, which was in the list.
      const staying = CLIENTS - 1;
      await settles(() => gateway!.stats(), { ...idle, sockets: staying, ready: staying, liveConnectionActors: staying, presenceEntries: Math.min(CLIENTS, PRESENCE_CAP) - 1 }, 10_000);
    } finally {
      clearInterval(sampler);
      for (const watcher of watchers) watcher.ws.terminate();
    }
    await settles(() => gateway!.stats(), idle, 10_000);
  });
});
