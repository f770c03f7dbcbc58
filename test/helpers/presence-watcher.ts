// A tracked client for presence storms: it keeps only its newest presence list, checks its broadcast seqs
// as they come, and counts what it receives.
import type WebSocket from 'ws';
import { handshake, type Json } from './chaos.js';

export interface PresenceWatcher {
  instanceId: string;
  ws: WebSocket;
  /** The instance ids of the newest presence list it saw (the gateway's own entry left out). */
  latest: Set<string> | undefined;
  lastSeq: number | undefined;
  /** Every jump in the broadcast seq, as `from -> to`. */
  gaps: string[];
  presenceFrames: number;
  /** Bytes of the presence frames it saw. */
  presenceBytes: number;
  /** Bytes of the last presence frame it saw. */
  lastPresenceBytes: number;
  /** Bytes of every message after the handshake. */
  bytes: number;
}

const instanceIdsOf = (entries: Json[]) =>
  new Set(entries.filter((entry) => entry.reason !== 'self').map((entry) => entry.instanceId as string));

/** Handshakes with its own instance id, tracked (mode `test`), and starts watching. */
export async function joinAsWatcher(url: string, token: string, instanceId: string): Promise<PresenceWatcher> {
  const client = { id: 'storm', version: '1.0.0', platform: 'linux', mode: 'test', instanceId };
  const { probe, hello } = await handshake(url, token, { client }, { timeoutMs: 30_000 });
  const watcher: PresenceWatcher = {
    instanceId,
    ws: probe.ws,
    latest: instanceIdsOf((hello.snapshot as Json).presence as Json[]),
    lastSeq: undefined,
    gaps: [],
    presenceFrames: 0,
    presenceBytes: 0,
    lastPresenceBytes: 0,
    bytes: 0,
  };
  const see = (frame: Json, size: number) => {
    if (typeof frame.seq === 'number') {
      if (watcher.lastSeq !== undefined && frame.seq !== watcher.lastSeq + 1) watcher.gaps.push(`${watcher.lastSeq} -> ${frame.seq}`);
      watcher.lastSeq = frame.seq;
    }
    if (frame.type === 'event' && frame.event === 'presence') {
      watcher.presenceFrames++;
      watcher.presenceBytes += size;
      watcher.lastPresenceBytes = size;
      watcher.latest = instanceIdsOf((frame.payload as { presence: Json[] }).presence);
    }
  };
  // Frames that came in the same read as hello-ok (its own join's presence can) were recorded by the probe.
  probe.ws.removeAllListeners('message');
  for (const frame of probe.frames.splice(0)) see(frame, JSON.stringify(frame).length);
  probe.ws.on('message', (data: Buffer) => {
    watcher.bytes += data.length;
    see(JSON.parse(data.toString()) as Json, data.length);
  });
  return watcher;
}
