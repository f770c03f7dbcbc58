// The write side of a socket under backpressure, on a fake socket whose buffer the test fills and drains.
import { describe, expect, it } from 'vitest';
import { Backpressure, checkWatermarks, type OutboundState } from '../../src/outbound/backpressure.js';
import { SHARED_BODY_BYTES, encodeBroadcast, textFrame } from '../../src/outbound/frames.js';

class FakeSocket {
  bufferedAmount = 0;
  readyState = 1;
  readonly sent: string[] = [];
  drainListeners: (() => void)[] = [];
  send(data: string): void {
    this.sent.push(data);
    this.bufferedAmount += data.length;
  }
  /** The peer read everything: the buffer empties and the drain event fires. */
  drain(): void {
    this.bufferedAmount = 0;
    const listeners = this.drainListeners.splice(0);
    for (const listener of listeners) listener();
  }
}

function setup(marks = { highWaterBytes: 100, lowWaterBytes: 20, maxBufferedBytes: 1_000 }, needDrain = true) {
  const socket = new FakeSocket();
  const state: OutboundState = { socket };
  const slow: number[] = [];
  const backpressure = new Backpressure(marks, {
    onSlowConsumer: (_, bufferedBytes) => slow.push(bufferedBytes),
    onceDrained: (_, callback) => {
      if (!needDrain) return false;
      socket.drainListeners.push(callback);
      return true;
    },
  });
  return { socket, state, backpressure, slow };
}

describe('backpressure', () => {
  it('writes everything while under the high watermark', () => {
    const { socket, state, backpressure } = setup();
    backpressure.offer(state, 'presence', () => 'p1');
    backpressure.write(state, 'res');
    expect(socket.sent).toEqual(['p1', 'res']);
    expect(backpressure.heldCount(state)).toBe(0);
  });

  it('above the high watermark holds droppable frames, newest of each kind, and never holds the others', () => {
    const { socket, state, backpressure } = setup();
    backpressure.write(state, 'x'.repeat(150));
    let rendered = 0;
    backpressure.offer(state, 'presence', () => `p${++rendered}`);
    backpressure.offer(state, 'health', () => 'h1');
    backpressure.offer(state, 'presence', () => `p${++rendered}`);
    backpressure.write(state, 'tick');
    backpressure.write(state, 'res');
    // Held frames are not rendered (no seq is taken) until they are sent.
    expect(rendered).toBe(0);
    expect(socket.sent.slice(1)).toEqual(['tick', 'res']);
    expect(backpressure.heldCount(state)).toBe(2);

    socket.drain();
    expect(socket.sent.slice(3)).toEqual(['h1', 'p1']);
    expect(rendered).toBe(1);
    expect(backpressure.heldCount(state)).toBe(0);
    // Back to normal.
    backpressure.offer(state, 'presence', () => 'p-after');
    expect(socket.sent.at(-1)).toBe('p-after');
  });

  it('keeps holding until the buffer is at or under the low watermark (hysteresis)', () => {
    const { socket, state, backpressure } = setup();
    backpressure.write(state, 'x'.repeat(150));
    backpressure.offer(state, 'presence', () => 'p');
    socket.bufferedAmount = 50; // under high, above low
    expect(backpressure.mustHold(state)).toBe(true);
    backpressure.offer(state, 'presence', () => 'p2');
    expect(socket.sent).toHaveLength(1);
    socket.bufferedAmount = 20;
    backpressure.relieve(state);
    expect(socket.sent.slice(1)).toEqual(['p2']);
  });

  it('without a drain event coming, sends held frames at the next write or relieve', () => {
    const { socket, state, backpressure } = setup(undefined, false);
    backpressure.write(state, 'x'.repeat(150));
    backpressure.offer(state, 'presence', () => 'p');
    socket.bufferedAmount = 0;
    backpressure.write(state, 'tick');
    expect(socket.sent.slice(1)).toEqual(['tick', 'p']);
    backpressure.write(state, 'x'.repeat(150));
    backpressure.offer(state, 'presence', () => 'q');
    socket.bufferedAmount = 0;
    backpressure.relieve(state);
    expect(socket.sent.at(-1)).toBe('q');
  });

  it('reports a slow consumer once when the buffer passes the hard limit', () => {
    const { state, backpressure, slow } = setup();
    backpressure.write(state, 'x'.repeat(1_001));
    backpressure.write(state, 'tick');
    expect(slow).toEqual([1_001]);
  });

  it('writes nothing to a socket that is not open', () => {
    const { socket, state, backpressure } = setup();
    socket.readyState = 2;
    backpressure.write(state, 'res');
    backpressure.offer(state, 'presence', () => 'p');
    expect(socket.sent).toEqual([]);
    expect(backpressure.heldCount(state)).toBe(0);
  });

  it("broadcast: a fan-out's share renders only what it sends, holds droppable kinds while congested and checks the hard limit", () => {
    const { socket, state, backpressure, slow } = setup();
    const recipient = { seq: 0 };
    const render = (r: { seq: number }) => `f${++r.seq}`;
    const presence = { hold: 'presence' };
    expect(backpressure.broadcast(state, presence, render, recipient)).toBe('sent');
    backpressure.broadcast(state, undefined, render, recipient);
    expect(socket.sent).toEqual(['f1', 'f2']);
    socket.bufferedAmount = 150; // congested: presence waits, the rest still goes, seqs taken in send order
    expect(backpressure.broadcast(state, presence, render, recipient)).toBe('held');
    backpressure.broadcast(state, presence, render, recipient);
    backpressure.broadcast(state, undefined, render, recipient);
    expect(socket.sent).toEqual(['f1', 'f2', 'f3']);
    expect(backpressure.heldCount(state)).toBe(1);
    socket.drain();
    expect(socket.sent).toEqual(['f1', 'f2', 'f3', 'f4']);
    socket.bufferedAmount = 999; // this write crosses the hard limit
    backpressure.broadcast(state, undefined, render, recipient);
    expect(slow).toHaveLength(1);
    // A slow consumer is written nothing more while it is being terminated.
    expect(backpressure.broadcast(state, undefined, render, recipient)).toBe('none');
    backpressure.write(state, 'res');
    socket.readyState = 2;
    backpressure.broadcast(state, presence, render, recipient);
    expect(socket.sent).toHaveLength(5);
    expect(recipient.seq).toBe(5);
  });

  it('broadcast: skips a skippable kind (node events) while the socket is congested or holding, without rendering it', () => {
    const { socket, state, backpressure } = setup();
    const recipient = { seq: 0 };
    const render = (r: { seq: number }) => `f${++r.seq}`;
    expect(backpressure.broadcast(state, 'skip', render, recipient)).toBe('sent');
    socket.bufferedAmount = 150;
    expect(backpressure.broadcast(state, 'skip', render, recipient)).toBe('skipped');
    backpressure.broadcast(state, { hold: 'presence' }, render, recipient);
    socket.bufferedAmount = 50; // under high, above low: still holding presence, so still skipping
    expect(backpressure.broadcast(state, 'skip', render, recipient)).toBe('skipped');
    socket.drain();
    expect(backpressure.broadcast(state, 'skip', render, recipient)).toBe('sent');
    expect(socket.sent).toEqual(['f1', 'f2', 'f3']);
  });

  it('broadcast: writes a head and the shared body to the socket underneath as one corked write, held frames too', () => {
    const { socket, state, backpressure } = setup();
    const written: string[] = [];
    let corked = 0;
    state.frames = {
      write: (part: Buffer) => written.push(`${corked}:${part.toString()}`),
      cork: () => void corked++,
      uncork: () => void corked--,
    };
    const presence = [{ text: 'x'.repeat(SHARED_BODY_BYTES) }];
    const encoded = encodeBroadcast({ type: 'event', event: 'presence', payload: { presence } });
    const recipient = { seq: 0 };
    const render = (r: { seq: number }, framed: boolean) => (framed ? encoded.framedAt(++r.seq) : encoded.at(++r.seq));
    backpressure.broadcast(state, { hold: 'presence' }, render, recipient);
    expect(written).toEqual([`1:${encoded.framedAt(1).head.toString()}`, `1:,"payload":${JSON.stringify({ presence })}}`]);
    expect(corked).toBe(0);
    expect(socket.sent).toEqual([]);
    socket.bufferedAmount = 150; // congested: presence is held, and written the same way once drained
    backpressure.broadcast(state, { hold: 'presence' }, render, recipient);
    socket.drain();
    expect(written).toHaveLength(4);
    expect(written[2]).toContain('"seq":2');
    expect(socket.sent).toEqual([]);
    // A small frame is written whole, in one write.
    const tick = encodeBroadcast({ type: 'event', event: 'tick', payload: { ts: 1 } });
    backpressure.broadcast(state, undefined, (r: { seq: number }, framed: boolean) => (framed ? tick.framedAt(++r.seq) : tick.at(++r.seq)), recipient);
    expect(written).toHaveLength(5);
    expect(written[4]).toBe(`0:${textFrame(Buffer.from('{"type":"event","event":"tick","seq":3,"payload":{"ts":1}}')).toString()}`);
  });

  it('refuses watermarks out of order', () => {
    expect(() => checkWatermarks({ highWaterBytes: 10, lowWaterBytes: 10, maxBufferedBytes: 100 })).toThrow(RangeError);
    expect(() => checkWatermarks({ highWaterBytes: 200, lowWaterBytes: 10, maxBufferedBytes: 100 })).toThrow(RangeError);
    expect(() => checkWatermarks({ highWaterBytes: 100, lowWaterBytes: 0, maxBufferedBytes: 100 })).not.toThrow();
  });
});
