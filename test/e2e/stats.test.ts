// gateway.stats(): what the gateway holds, counted from its own structures and clock.
import { afterEach, describe, expect, it } from 'vitest';
import { TestClient, connectClient } from '../helpers/client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('gateway.stats()', () => {
  it('counts sockets, actors and pending timers, and gives them all back when the clients go', async () => {
    gw = await startTestGateway();
    const idle = gw.gateway.stats();
    // The supervisor's tick is the one delayed event of an idle gateway.
    expect(idle).toMatchObject({ sockets: 0, ready: 0, liveConnectionActors: 0, pendingTimers: 1, presenceEntries: 0 });

    const { client: ready } = await connectClient(gw.url, gw.token);
    const waiting = await TestClient.open(gw.url);
    await waiting.challenge();
    await until(() => gw!.gateway.stats().sockets === 2);
    const busy = gw.gateway.stats();
    expect(busy).toMatchObject({ sockets: 2, ready: 1, liveConnectionActors: 2, presenceEntries: 1 });
    // The waiting socket's handshake deadline is pending on the shared clock; the ready one's is cancelled.
    expect(busy.pendingTimers).toBe(2);

    await ready.close();
    await waiting.close();
    await until(() => gw!.gateway.stats().sockets === 0);
    expect(gw.gateway.stats()).toMatchObject(idle);
  });
});
