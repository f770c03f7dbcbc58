// Backpressure over real sockets: a client that stops reading has presence coalesced to the newest and node
// events skipped while its socket is above the high watermark, and still gets every tick and response; the
// seqs it sees skip exactly the node events it was not sent; a reader that keeps up gets every presence frame.
import { afterEach, expect, it } from 'vitest';
import { connectClient, type Frame, type TestClient } from '../helpers/client.js';
import { TEST_TOKEN } from '../helpers/gateway.js';
import { cleanUp, startHardened, track, until } from '../helpers/hardened.js';

afterEach(cleanUp);

const socketOf = (client: TestClient) => (client.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
const presenceVersion = (frame: Frame) => (frame.stateVersion as { presence: number }).presence;

it('coalesces presence and skips node events for a congested socket, never drops ticks, and its seqs show only the skips', async () => {
  const { gateway, url, logs } = await startHardened({
    tickIntervalMs: 100,
    // No presence window: every change goes out to a reader that keeps up, so what the stalled client
    // misses was held back by its watermarks alone.
    presenceWindowMs: 0,
    highWaterBytes: 64 * 1024,
    lowWaterBytes: 16 * 1024,
    maxBufferedBytes: 256 * 1024 * 1024,
  });
  const stalled = track((await connectClient(url, TEST_TOKEN, { scopes: ['operator.read'] })).client);
  const reader = track((await connectClient(url, TEST_TOKEN, { scopes: ['operator.read'] })).client);
  const versionReaderJoinedAt = gateway.state.stateVersion().presence;
  const node = track(
    (
      await connectClient(url, TEST_TOKEN, {
        role: 'node',
        scopes: [],
        client: { id: 'chatty-node', version: '1.0.0', platform: 'linux', mode: 'node' },
      })
    ).client,
  );
  socketOf(stalled).pause();

  // Big node events fill the stalled socket's buffers; presence changes (a tracked client coming and going)
  // then find it congested.
  const payloadJSON = JSON.stringify({ blob: 'x'.repeat(512 * 1024) });
  let nodeEvents = 0;
  let presenceChanges = 0;
  const churn = async () => {
    const { client } = await connectClient(url, TEST_TOKEN);
    await client.close();
    presenceChanges += 2;
  };
  for (let i = 0; i < 200 && !logs.find((line) => line.event === 'backpressure.holding'); i++) {
    await node.request('node.event', { event: 'bulk', payloadJSON });
    nodeEvents += 1;
    await churn();
  }
  expect(logs.find((line) => line.event === 'backpressure.holding')).toBeDefined();
  for (let i = 0; i < 5; i++) {
    await churn();
    // Found congested: not sent to the stalled client.
    await node.request('node.event', { event: 'bulk', payloadJSON });
    nodeEvents += 1;
  }
  const finalVersion = gateway.state.stateVersion().presence;
  await until(() => reader.frames.some((frame) => frame.event === 'presence' && presenceVersion(frame) === finalVersion), 5_000, 'reader up to date');

  socketOf(stalled).resume();
  await until(
    () => stalled.frames.some((frame) => frame.event === 'presence' && presenceVersion(frame) === finalVersion),
    10_000,
    'stalled client up to date',
  );

  // A barrier rather than a wait: one more presence change (a client that joins and stays), which every socket is
  // sent at once now that none is congested. Whatever the gateway still held or had in flight for a socket came
  // before it: so the presence frames before it are all there will be of the churn.
  track((await connectClient(url, TEST_TOKEN)).client);
  const barrierVersion = gateway.state.stateVersion().presence;
  expect(barrierVersion).toBe(finalVersion + 1);
  const isBarrier = (frame: Frame) => frame.event === 'presence' && presenceVersion(frame) === barrierVersion;
  await until(() => stalled.frames.some(isBarrier) && reader.frames.some(isBarrier), 5_000, 'the barrier presence');
  const upToBarrier = (frames: Frame[]) => frames.slice(0, frames.findIndex(isBarrier));

  // Nothing but presence was dropped, and presence ends on the newest snapshot.
  const stalledPresence = upToBarrier(stalled.frames).filter((frame) => frame.event === 'presence');
  const readerPresence = upToBarrier(reader.frames).filter((frame) => frame.event === 'presence');
  // (The reader sees every change after its own join, the node's and the churn's, and may see its own join
  // too when that was held for the end of a window opened just before; changes within the same tick go
  // out as one frame to everyone, so it may get fewer. The stalled client gets fewer still.)
  expect(finalVersion - versionReaderJoinedAt).toBeGreaterThanOrEqual(presenceChanges);
  expect(readerPresence.length).toBeLessThanOrEqual(finalVersion - versionReaderJoinedAt + 1);
  expect(readerPresence.length).toBeGreaterThanOrEqual(presenceChanges / 2);
  expect(stalledPresence.length).toBeLessThan(readerPresence.length);
  expect(presenceVersion(stalledPresence.at(-1)!)).toBe(finalVersion);
  expect(stalled.frames.filter((frame) => frame.event === 'tick').length).toBeGreaterThan(0);
  // Node events are skipped, not held: the gaps in its seqs, up to the barrier's, are exactly the node events it
  // was not sent.
  const stalledNodeEvents = upToBarrier(stalled.frames).filter((frame) => frame.event === 'node.event').length;
  expect(stalledNodeEvents).toBeLessThan(nodeEvents);
  const throughBarrier = stalled.frames.slice(0, stalled.frames.findIndex(isBarrier) + 1);
  const seqs = throughBarrier.filter((frame) => typeof frame.seq === 'number').map((frame) => frame.seq as number);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  expect(seqs.at(-1)! - seqs[0]! + 1 - seqs.length).toBe(nodeEvents - stalledNodeEvents);
  expect((await stalled.request('health')).ok).toBe(true);
  expect(logs.find((line) => line.cause === 'slow-consumer')).toBeUndefined();
});
