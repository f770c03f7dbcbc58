// The gateway-wide cap on buffered bytes, on fake sockets whose buffers the test sets: a body many sockets
// hold counts once, past three quarters of the cap congested sockets are shed droppable frames, past the
// cap the largest consumers are terminated, and only as many as it takes.
import { describe, expect, it } from 'vitest';
import { Backpressure, type OutboundState } from '../../src/outbound/backpressure.js';
import { COUNTED_BODY_BYTES, GatewayBuffers } from '../../src/outbound/budget.js';
import { encodeBroadcast } from '../../src/outbound/frames.js';

const KiB = 1024;

interface FakeState extends OutboundState {
  name: string;
  socket: { bufferedAmount: number; readyState: number; send(data: string | Buffer): void };
  sent: string[];
}

function fakeState(name: string, bufferedAmount = 0): FakeState {
  const sent: string[] = [];
  return { name, sent, socket: { bufferedAmount, readyState: 1, send: (data) => void sent.push(String(data)) } };
}

function setup(limitBytes: number, states: FakeState[]) {
  const terminated: { name: string; buffered: number; total: number }[] = [];
  const shedding: boolean[] = [];
  let now = 0;
  const buffers = new GatewayBuffers(limitBytes, {
    sockets: () => states,
    onLargestConsumer: (state, buffered, total) => terminated.push({ name: (state as FakeState).name, buffered, total }),
    onShedding: (on) => shedding.push(on),
    now: () => now,
  });
  const backpressure = new Backpressure(
    { highWaterBytes: 128 * KiB, lowWaterBytes: 16 * KiB, maxBufferedBytes: 10 * 1024 * KiB },
    { onSlowConsumer: () => undefined, onceDrained: () => false },
    buffers,
  );
  return { buffers, backpressure, terminated, shedding, later: (ms: number) => void (now += ms) };
}

/** A broadcast body of about `bytes`, and a socket's share of it written (its buffer grows by the body). */
function body(bytes: number) {
  return encodeBroadcast({ type: 'event', event: 'demo', payload: 'x'.repeat(bytes) });
}

describe('GatewayBuffers', () => {
  it('counts a body held by many sockets once, and lets it go when the last one has written it', () => {
    const states = Array.from({ length: 5 }, (_, i) => fakeState(`s${i}`, 1 * KiB));
    const { buffers } = setup(1024 * KiB, states);
    const encoded = body(100 * KiB);
    const releases = states.map((state) => {
      state.socket.bufferedAmount += encoded.body.length; // what the socket's buffer now holds
      return buffers.holds(state, encoded)!;
    });
    expect(encoded.holders).toBe(5);
    // 5 KiB of the sockets' own and the body once, not five times.
    expect(buffers.total()).toBe(5 * KiB + encoded.body.length);
    releases.slice(0, 4).forEach((release, i) => {
      release();
      states[i]!.socket.bufferedAmount -= encoded.body.length;
    });
    expect(buffers.total()).toBe(5 * KiB + encoded.body.length);
    releases[4]!();
    states[4]!.socket.bufferedAmount -= encoded.body.length;
    expect(buffers.total()).toBe(5 * KiB);
    expect(encoded.holders).toBe(0);
  });

  it('counts a small body per socket, as part of what each has buffered', () => {
    const state = fakeState('s');
    const { buffers } = setup(1024 * KiB, [state]);
    expect(buffers.holds(state, body(COUNTED_BODY_BYTES / 4))).toBeUndefined();
    expect(state.sharedBytes ?? 0).toBe(0);
  });

  it('past three quarters of the cap, holds presence and skips node events for every socket above its low watermark', () => {
    const states = [fakeState('a', 110 * KiB), fakeState('b', 110 * KiB), fakeState('c', 110 * KiB), fakeState('idle')];
    const { buffers, backpressure, shedding, terminated, later } = setup(400 * KiB, states);
    const render = (seq: { n: number }) => `f${++seq.n}`;
    // Under its high watermark, a socket is sent presence while the gateway is not shedding.
    expect(backpressure.broadcast(states[0]!, { hold: 'presence' }, render, { n: 0 })).toBe('sent');
    buffers.added(300 * KiB); // the estimate passes the shedding mark: the sockets are read at the next check
    buffers.check();
    expect(buffers.shedding).toBe(true);
    expect(shedding).toEqual([true]);
    expect(backpressure.broadcast(states[1]!, { hold: 'presence' }, render, { n: 0 })).toBe('held');
    expect(backpressure.broadcast(states[2]!, 'skip', render, { n: 0 })).toBe('skipped');
    expect(backpressure.broadcast(states[3]!, 'skip', render, { n: 0 })).toBe('sent'); // nothing buffered: sent
    expect(backpressure.broadcast(states[2]!, undefined, render, { n: 0 })).toBe('sent'); // never shed
    expect(terminated).toEqual([]);
    // The sockets drain: the next check, 100 ms on, reads them again and the shedding ends.
    for (const state of states) state.socket.bufferedAmount = 0;
    later(100);
    buffers.check();
    expect(buffers.shedding).toBe(false);
    expect(shedding).toEqual([true, false]);
  });

  it('past the cap, terminates the largest consumers until the rest would be under three quarters of it', () => {
    const states = [fakeState('small', 50 * KiB), fakeState('large', 300 * KiB), fakeState('medium', 120 * KiB), fakeState('tiny', 5 * KiB)];
    const { buffers, terminated } = setup(400 * KiB, states);
    buffers.added(500 * KiB);
    buffers.check();
    // 475 KiB: the largest (300) goes, leaving 175 KiB, under 300 KiB: nobody else.
    expect(terminated.map((t) => t.name)).toEqual(['large']);
    expect(terminated[0]).toMatchObject({ buffered: 300 * KiB, total: 475 * KiB });
    expect(states[1]!.slow).toBe(true);
  });

  it('frees a shared body only with its last holder: when bodies alone pass the cap, every socket holding them goes', () => {
    const holders = Array.from({ length: 4 }, (_, i) => fakeState(`holder${i}`, i * KiB));
    const bystander = fakeState('bystander', 2 * KiB);
    const { buffers, terminated } = setup(256 * KiB, [...holders, bystander]);
    for (const bytes of [100 * KiB, 120 * KiB, 110 * KiB]) {
      const encoded = body(bytes);
      for (const state of holders) {
        state.socket.bufferedAmount += encoded.body.length;
        buffers.holds(state, encoded);
      }
    }
    expect(buffers.total()).toBeGreaterThan(330 * KiB);
    expect(buffers.total()).toBeLessThan(340 * KiB);
    buffers.check();
    expect(terminated.map((t) => t.name).sort()).toEqual(['holder0', 'holder1', 'holder2', 'holder3']);
    expect(bystander.slow).toBeFalsy();
  });

  it('reads the sockets only when the running estimate says the cap may be near', () => {
    let reads = 0;
    const state = fakeState('s', 0);
    const buffers = new GatewayBuffers(4 * 1024 * KiB, {
      sockets: () => {
        reads += 1;
        return [state];
      },
      onLargestConsumer: () => undefined,
    });
    for (let i = 0; i < 1_000; i++) {
      buffers.added(2 * KiB); // 2 MiB in all, under the 3 MiB mark
      buffers.check();
    }
    expect(reads).toBe(0);
    for (let i = 0; i < 1_000; i++) {
      buffers.added(2 * KiB); // past the mark: read once, then not again until a quarter more is written
      buffers.check();
    }
    expect(reads).toBe(1);
  });
});
