// Broadcast streams: a lone presence change goes out at once, a burst after it once, as the newest;
// other broadcasts pass at once; audiences and per-recipient seq.
import { Subject } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import type { SupervisorEmitted } from '../../machines/supervisor.js';
import { createRequire } from 'node:module';
import { Backpressure } from '../../src/outbound/backpressure.js';
import { broadcastsOf, presenceWindowFor, type Broadcast } from '../../src/outbound/broadcasts.js';
import { SHARED_BODY_BYTES, encodeBroadcast, textFrame } from '../../src/outbound/frames.js';
import { Outbound, type OutboundConnection } from '../../src/outbound/outbound.js';

/** A ready socket that records what it is sent, as the outbound side sees it. */
interface FakeRecipient extends OutboundConnection {
  name: string;
  sent: Buffer[];
}

function recipient(name: string, role: 'operator' | 'node', scopes: string[], seq: number): FakeRecipient {
  const sent: Buffer[] = [];
  return { name, role, scopes, seq, sent, socket: { bufferedAmount: 0, readyState: 1, send: (data) => void sent.push(data as Buffer) } };
}

/** The gateway's fan-out over these recipients (no congestion: every frame is written). */
function fanOut(recipients: FakeRecipient[], broadcast: Broadcast): number {
  const backpressure = new Backpressure(
    { highWaterBytes: 64 * 1024, lowWaterBytes: 16 * 1024, maxBufferedBytes: 1024 * 1024 },
    { onSlowConsumer: () => undefined, onceDrained: () => false },
  );
  return new Outbound<FakeRecipient>(backpressure, () => recipients).fanOut(broadcast);
}

const presence = (version: number): SupervisorEmitted => ({
  type: 'presence.changed',
  presence: [{ ts: version }],
  stateVersion: { presence: version, health: 1 },
});

describe('broadcastsOf', () => {
  it('sends a lone presence change at once, a burst after it once with the newest snapshot, and lets the rest through', async () => {
    const emitted$ = new Subject<SupervisorEmitted>();
    const seen: Broadcast[] = [];
    const subscription = broadcastsOf(emitted$).subscribe((broadcast) => seen.push(broadcast));
    emitted$.next(presence(2)); // nothing sent before it: at once
    emitted$.next(presence(3));
    emitted$.next({ type: 'tick' });
    emitted$.next({ type: 'reply', connId: 'c', requestId: 'r', ok: true, payload: null });
    emitted$.next(presence(4));
    expect(seen.map((b) => b.frame.event)).toEqual(['presence', 'tick']);
    expect(seen[0]!.frame.stateVersion).toEqual({ presence: 2, health: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    // 3 and 4 came within the (zero-length, same-tick) window opened by 2: one frame, the newest.
    expect(seen.map((b) => b.frame.event)).toEqual(['presence', 'tick', 'presence']);
    expect(seen[2]!.frame).toMatchObject({ payload: { presence: [{ ts: 4 }] }, stateVersion: { presence: 4 } });

    await new Promise((resolve) => setTimeout(resolve, 5));
    emitted$.next(presence(5));
    expect(seen.at(-1)!.frame.stateVersion).toEqual({ presence: 5, health: 1 });
    subscription.unsubscribe();
  });

  it('holds the presence changes within a window, whose length is read as each window opens, for its end', () => {
    // On a fake clock, the one the window's timer runs on (rxjs's asyncScheduler arms it with setInterval):
    // its end is asserted to the millisecond, and nothing waits on real time.
    vi.useFakeTimers();
    try {
      const emitted$ = new Subject<SupervisorEmitted>();
      const seen: Broadcast[] = [];
      let windowMs = 60;
      const subscription = broadcastsOf(emitted$, () => windowMs).subscribe((broadcast) => seen.push(broadcast));
      emitted$.next(presence(2));
      expect(seen.map((b) => b.frame.stateVersion)).toEqual([{ presence: 2, health: 1 }]);
      vi.advanceTimersByTime(20);
      emitted$.next(presence(3)); // within the window opened by 2: held
      emitted$.next(presence(4)); // merged with 3
      vi.advanceTimersByTime(39);
      expect(seen).toHaveLength(1); // 59 ms after 2: still held
      vi.advanceTimersByTime(1);
      expect(seen.map((b) => b.frame.stateVersion)).toEqual([
        { presence: 2, health: 1 },
        { presence: 4, health: 1 },
      ]);
      // The frame at the window's end opened another window, read then (60 ms); one read after it is 0 ms.
      windowMs = 0;
      vi.advanceTimersByTime(59);
      emitted$.next(presence(5)); // within the window the trailing frame opened: held
      expect(seen).toHaveLength(2);
      vi.advanceTimersByTime(1);
      expect(seen.at(-1)!.frame.stateVersion).toEqual({ presence: 5, health: 1 });
      // That frame opened a window of 0 ms, over at the next tick: after it, a change goes at once.
      vi.advanceTimersByTime(1);
      emitted$.next(presence(6));
      expect(seen.at(-1)!.frame.stateVersion).toEqual({ presence: 6, health: 1 });
      expect(seen).toHaveLength(4);
      subscription.unsubscribe();
    } finally {
      vi.useRealTimers();
    }
  });

  it('stretches the presence window with the fan-out cost, between its floor and its cap', () => {
    const mib = 1024 * 1024;
    expect(presenceWindowFor(50, 3, 1_000, 32 * mib, 1_000)).toBe(50);
    // 200 sockets x 40 KiB = 7.8 MiB a frame: 245 ms at 32 MiB/s.
    expect(presenceWindowFor(50, 200, 40 * 1024, 32 * mib, 1_000)).toBe(245);
    expect(presenceWindowFor(50, 10_000, 40 * 1024, 32 * mib, 1_000)).toBe(1_000);
    expect(presenceWindowFor(0, 0, 0, 32 * mib, 1_000)).toBe(0);
  });

  it('sends nodes-only broadcasts to nodes, and nothing else to them', () => {
    const recipients = [recipient('reader', 'operator', ['operator.read'], 0), recipient('node', 'node', [], 4)];
    expect(fanOut(recipients, { audience: 'nodes', frame: { type: 'event', event: 'demo.nodes', payload: 1 } })).toBe(1);
    expect(recipients.map((r) => r.sent.length)).toEqual([0, 1]);
    expect(JSON.parse(recipients[1]!.sent[0]!.toString())).toEqual({ type: 'event', event: 'demo.nodes', payload: 1, seq: 5 });
  });

  it('keeps operator-scoped broadcasts for operators holding the scope', () => {
    const emitted$ = new Subject<SupervisorEmitted>();
    const seen: Broadcast[] = [];
    broadcastsOf(emitted$).subscribe((broadcast) => seen.push(broadcast));
    emitted$.next({ type: 'broadcast', audience: 'operator.pairing', event: 'node.pair.requested', payload: { requestId: 'x' } });
    const recipients = [
      recipient('admin', 'operator', ['operator.admin'], 0),
      recipient('reader', 'operator', ['operator.read'], 0),
      recipient('pairer', 'operator', ['operator.pairing'], 7),
      recipient('node', 'node', [], 0),
    ];
    expect(fanOut(recipients, seen[0]!)).toBe(2);
    const written = recipients.flatMap((r) => r.sent.map((data) => [r.name, JSON.parse(data.toString())]));
    expect(written).toEqual([
      ['admin', { type: 'event', event: 'node.pair.requested', payload: { requestId: 'x' }, seq: 1 }],
      ['pairer', { type: 'event', event: 'node.pair.requested', payload: { requestId: 'x' }, seq: 8 }],
    ]);
    expect(recipients.map((r) => r.seq)).toEqual([1, 0, 8, 0]);
  });
});

describe('encodeBroadcast', () => {
  it('serialises a frame once and builds one payload per distinct seq, shared by the sockets at that seq', () => {
    const frame = { type: 'event' as const, event: 'presence', payload: { presence: [{ ts: 1, host: 'h\u00e9' }] }, stateVersion: { presence: 2, health: 1 } };
    const encoded = encodeBroadcast(frame);
    const first = encoded.at(5);
    expect(encoded.at(5)).toBe(first);
    expect(JSON.parse(first.toString())).toEqual({ ...frame, seq: 5 });
    expect(first.toString()).toBe(JSON.stringify({ type: 'event', event: 'presence', seq: 5, payload: frame.payload, stateVersion: frame.stateVersion }));
    expect(JSON.parse(encoded.at(9).toString()).seq).toBe(9);
  });

  it('is byte for byte what JSON.stringify gives for the whole event, at every seq and for every shape of frame', () => {
    const frames = [
      { type: 'event' as const, event: 'tick' },
      { type: 'event' as const, event: 'tick', payload: { ts: 1_700_000_000_000 } },
      { type: 'event' as const, event: 'node.event', payload: { nodeId: 'n\u00fc', event: 'e"v', payloadJSON: '{"a":"\u2028\ud83d\ude00"}', ts: 1 } },
      { type: 'event' as const, event: 'presence', payload: { presence: [] }, stateVersion: { presence: 7, health: 3 } },
      { type: 'event' as const, event: 'weird \u0000 name', payload: null },
      { type: 'event' as const, event: 'arr', payload: [1, 'x'.repeat(70_000), { deep: [[[]]] }] },
      { type: 'event' as const, event: 'undef', payload: undefined },
    ];
    const seqs = [0, 1, 9, 10, 99, 125, 126, 65_535, 65_536, 1_000_000, 2 ** 31, Number.MAX_SAFE_INTEGER];
    for (let i = 0; i < 200; i++) seqs.push(Math.floor(Math.random() * 1e9));
    for (const frame of frames) {
      const encoded = encodeBroadcast(frame);
      for (const seq of seqs) {
        const { type, event, ...rest } = frame;
        const expected = Buffer.from(JSON.stringify({ type, event, seq, ...rest }));
        expect(encoded.at(seq).equals(expected)).toBe(true);
        // The WebSocket frame: the head (header and the start of the text) then the shared body, read back by ws.
        const { head, body } = encoded.framedAt(seq);
        // Shared when it is worth it; a small one is whole in its head.
        expect(body).toBe(encoded.body.length < SHARED_BODY_BYTES ? body : encoded.body);
        if (encoded.body.length < SHARED_BODY_BYTES) expect(body.length).toBe(0);
        const received = receive(Buffer.concat([head, body]));
        expect(received.equals(expected)).toBe(true);
      }
      expect(encoded.encodings).toBe(new Set(seqs).size);
    }
  });

  it('fans out to 1,000 recipients at the same seq with a single encoding', () => {
    const recipients = Array.from({ length: 1_000 }, (_, i) => recipient(`r${i}`, 'operator', ['operator.read'], 3));
    expect(fanOut(recipients, { audience: 'everyone', frame: { type: 'event', event: 'tick', payload: { ts: 1 } } })).toBe(1_000);
    const buffers = new Set(recipients.flatMap((r) => r.sent));
    expect(buffers.size).toBe(1);
    expect(recipients.every((r) => r.seq === 4)).toBe(true);
  });

  it('fans out to 1,000 sockets at 1,000 different seqs with one body: each is written only a head of its own', () => {
    const recipients = Array.from({ length: 1_000 }, (_, i) => {
      const r = recipient(`r${i}`, 'operator', ['operator.read'], i * 7);
      const parts: Buffer[] = [];
      r.frames = { write: (part: Buffer) => void parts.push(part), cork: () => undefined, uncork: () => undefined };
      return Object.assign(r, { parts });
    });
    const payload = { nodeId: 'n', event: 'big', payloadJSON: 'x'.repeat(32 * 1024), ts: 1 };
    expect(fanOut(recipients, { audience: 'operator.read', frame: { type: 'event', event: 'node.event', payload } })).toBe(1_000);
    const bodies = new Set(recipients.map((r) => r.parts[1]));
    expect(bodies.size).toBe(1);
    const heads = recipients.map((r) => r.parts[0]!);
    expect(Math.max(...heads.map((head) => head.length))).toBeLessThan(64);
    recipients.forEach((r, i) => {
      expect(r.parts).toHaveLength(2);
      const expected = JSON.stringify({ type: 'event', event: 'node.event', seq: i * 7 + 1, payload });
      expect(receive(Buffer.concat(r.parts)).equals(Buffer.from(expected))).toBe(true);
    });
  });
});

// ws's own frame parser (not in its type declarations).
interface FrameReceiver {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  write(chunk: Buffer): void;
}
const Receiver = (createRequire(import.meta.url)('ws') as { Receiver: unknown }).Receiver as new (options: { isServer: boolean; maxPayload: number }) => FrameReceiver;

/** The one text message in `frame`, as ws reads what a server sent. */
function receive(frame: Buffer): Buffer {
  const received: Buffer[] = [];
  const receiver = new Receiver({ isServer: false, maxPayload: 0 });
  receiver.on('message', (data: Buffer, isBinary: boolean) => {
    expect(isBinary).toBe(false);
    received.push(data);
  });
  receiver.on('error', (error: Error) => {
    throw error;
  });
  receiver.write(frame);
  expect(received).toHaveLength(1);
  return received[0]!;
}

describe('textFrame', () => {
  it('builds the frame ws itself would send, for every length encoding (7, 16 and 64 bits)', () => {
    for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 200_000]) {
      const payload = Buffer.alloc(length, 'x');
      const frame = textFrame(payload);
      expect(frame[0]).toBe(0x81);
      expect(frame.length).toBe(length + (length < 126 ? 2 : length < 65_536 ? 4 : 10));
      // Read back by ws's own parser, as a client reads what a server sent.
      const received: { data: Buffer; isBinary: boolean }[] = [];
      const receiver = new Receiver({ isServer: false, maxPayload: 0 });
      receiver.on('message', (data: Buffer, isBinary: boolean) => received.push({ data, isBinary }));
      receiver.on('error', (error: Error) => {
        throw error;
      });
      receiver.write(frame);
      expect(received).toHaveLength(1);
      expect(received[0]!.isBinary).toBe(false);
      expect(received[0]!.data.equals(payload)).toBe(true);
    }
  });

  it('an encoded broadcast frames each seq once and the frame carries that seq', () => {
    const encoded = encodeBroadcast({ type: 'event', event: 'presence', payload: { presence: [] } });
    const framed = encoded.framedAt(3);
    expect(encoded.framedAt(3)).toBe(framed);
    const whole = Buffer.concat([framed.head, framed.body]);
    expect(whole.equals(textFrame(encoded.at(3)))).toBe(true);
    expect(JSON.parse(receive(whole).toString())).toMatchObject({ event: 'presence', seq: 3 });
  });
});

