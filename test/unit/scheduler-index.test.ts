// The scheduler index: stopping an actor cancels exactly its own delayed events, without walking the
// delayed events of every other actor in the system (which made a storm of closes quadratic).
import { createActor, fromTransition, type AnyActorRef } from 'xstate';
import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../../machines/connection.js';
import { createCountingClock } from '../../src/actors/clock.js';
import { indexScheduledEvents } from '../../src/actors/scheduler-index.js';

function world(indexed: boolean) {
  const clock = createCountingClock();
  const host = createActor(fromTransition((state: null) => state, null), { clock }).start();
  if (indexed) indexScheduledEvents(host.system);
  // Counts the walks over every pending delayed event of the system (XState's own cancelAll does one per stop).
  const internal = host.system as unknown as { _snapshot: { _scheduledEvents: Record<string, unknown> } };
  let walks = 0;
  internal._snapshot._scheduledEvents = new Proxy(internal._snapshot._scheduledEvents, {
    ownKeys(target) {
      walks += 1;
      return Reflect.ownKeys(target);
    },
  });
  const supervisor = createActor(fromTransition((state: null) => state, null), { clock }).start();
  let next = 0;
  const connection = (handshakeTimeoutMs = 60_000): AnyActorRef =>
    createActor(connectionMachine, {
      input: { connId: `c${next++}`, remoteAddr: '127.0.0.1', isLoopback: true, challengeNonce: 'n', openedAt: 0, handshakeTimeoutMs, supervisor },
      parent: host,
      clock,
    }).start();
  return { clock, connection, walks: () => walks };
}

describe('indexScheduledEvents', () => {
  it('a closing connection cancels its own handshake deadline and no other, without walking them all', () => {
    const { clock, connection, walks } = world(true);
    const actors = Array.from({ length: 300 }, () => connection());
    expect(clock.pending()).toBe(300);
    for (const actor of actors.slice(0, 100)) actor.send({ type: 'socket.closed', code: 1006, reason: '' });
    expect(clock.pending()).toBe(200);
    expect(actors.slice(0, 100).every((actor) => actor.getSnapshot().status === 'done')).toBe(true);
    expect(actors.slice(100).every((actor) => actor.getSnapshot().value && actor.getSnapshot().status === 'active')).toBe(true);
    for (const actor of actors.slice(100)) actor.send({ type: 'socket.closed', code: 1006, reason: '' });
    expect(clock.pending()).toBe(0);
    expect(walks()).toBe(0);
  });

  it('XState alone walks every pending deadline once per close (what the index removes)', () => {
    const { clock, connection, walks } = world(false);
    const actors = Array.from({ length: 50 }, () => connection());
    for (const actor of actors) actor.send({ type: 'socket.closed', code: 1006, reason: '' });
    expect(clock.pending()).toBe(0);
    expect(walks()).toBe(50);
  });

  it('a deadline that fires still closes its connection (its stop then cancels nothing of the others)', async () => {
    const { clock, connection } = world(true);
    const keep = connection();
    const late = connection(20);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(late.getSnapshot()).toMatchObject({ status: 'done', context: { closeCause: { kind: 'handshake-timeout' } } });
    expect(clock.pending()).toBe(1);
    expect(keep.getSnapshot().status).toBe('active');
    keep.send({ type: 'socket.closed', code: 1006, reason: '' });
    expect(clock.pending()).toBe(0);
  });
});
