// Fuzzing below the frames: arbitrary bytes written straight onto an upgraded socket's TCP stream, and WebSocket
// frames with any FIN, RSV bits, opcode, mask and length, and close frames with any code and reason. Whatever
// arrives, the gateway must close the socket with a close frame (a protocol error 1002, 1007, 1009, the handshake
// timeout 1008 for bytes that never complete a frame, or the echo of a close the client sent), exactly as RFC 6455
// has it when the first frame decides, never crash or just drop it, and come back to what it held before while a
// healthy client is served. Replay with ACTORGATE_FUZZ_SEED, scale with ACTORGATE_FUZZ_SCALE (1 = 600 sockets).
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayStats } from '../../src/gateway/create-gateway.js';
import { ending, envNumber, healthMonitor, openSocket, settles, type Outcome } from '../helpers/chaos.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const SEED = envNumber('ACTORGATE_FUZZ_SEED', 0x7a11);
const SCALE = envNumber('ACTORGATE_FUZZ_SCALE', 1);
const BATCH = 40; // sockets per property case, written at once
const BATCHES = Math.max(1, Math.round(15 * SCALE));
// Bytes that never complete a frame wait for it; so does every batch. It also bounds the healthy client's handshakes,
// which on a loaded machine must not be cut off for being slow: 2 s, far above one (tens of ms).
const HANDSHAKE_TIMEOUT_MS = 2_000;

let gw: TestGateway;
let idle: GatewayStats;
let baseline: GatewayStats;
let monitor: ReturnType<typeof healthMonitor>;

beforeAll(async () => {
  gw = await startTestGateway({ handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS, maxPreauthPerAddress: 0 });
  idle = gw.gateway.stats();
  // The healthy client completes its handshakes within the timeout, and is served for as long as it stays.
  monitor = healthMonitor(gw.url, gw.token, { intervalMs: 50, handshakeEveryMs: 250 });
  await settles(() => gw.gateway.stats(), { ...idle, sockets: 1, ready: 1, liveConnectionActors: 1, presenceEntries: 1 });
  baseline = gw.gateway.stats();
});
afterAll(async () => {
  await monitor?.stop();
  await gw?.close();
});

interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

function encode({ fin, rsv, opcode, masked, payload }: Frame): Buffer {
  const length = payload.length;
  const head = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const maskBit = masked ? 0x80 : 0;
  if (length < 126) head.push(maskBit | length);
  else head.push(maskBit | 126, length >> 8, length & 0xff);
  const mask = randomBytes(4);
  const body = masked ? Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!)) : Buffer.from(payload);
  return Buffer.concat([Buffer.from(head), masked ? mask : Buffer.alloc(0), body]);
}

const isValidCloseCode = (code: number) =>
  (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);

/**
 * What RFC 6455 makes of the first frame on its own, when that alone decides the outcome: a protocol error (1002),
 * or a close the server echoes. Undefined when later bytes decide (a data frame, a ping, an incomplete frame).
 */
function firstFrameVerdict(frame: Frame): number | undefined {
  const { fin, rsv, opcode, masked, payload } = frame;
  if (rsv !== 0) return 1002; // no extension negotiated
  if ((opcode >= 3 && opcode <= 7) || opcode >= 11) return 1002; // reserved opcodes
  if (!masked) return 1002; // a client's frames must be masked
  if (opcode === 0) return 1002; // a continuation with nothing to continue
  if (opcode >= 8 && (!fin || payload.length > 125)) return 1002; // control frames are never fragmented, at most 125 bytes
  if (opcode === 8) {
    if (payload.length === 0) return 1005; // a close without a code: echoed without one
    if (payload.length === 1) return 1002;
    const code = (payload[0]! << 8) | payload[1]!;
    if (!isValidCloseCode(code)) return 1002;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(payload.subarray(2));
    } catch {
      return 1007;
    }
    return code; // echoed
  }
  return undefined;
}

const randomFrame = fc.record({
  fin: fc.boolean(),
  rsv: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, fc.nat(7)),
  opcode: fc.oneof(fc.constantFrom(0, 1, 2, 8, 9, 10), fc.nat(15)),
  masked: fc.oneof({ arbitrary: fc.constant(true), weight: 3 }, fc.boolean()),
  payload: fc.oneof(fc.uint8Array({ maxLength: 140 }), fc.uint8Array({ minLength: 126, maxLength: 300 })),
});

/** Close frames from the client: no code, a valid or invalid code, a reason that is or is not UTF-8. */
const closeFrame = fc
  .tuple(
    fc.oneof(fc.constant(undefined), fc.constantFrom(1000, 1001, 1002, 1003, 1004, 1005, 1006, 1011, 1015, 2999, 3000, 4000, 4999, 5000), fc.nat(65535)),
    fc.oneof(fc.string({ maxLength: 40 }).map((text) => Buffer.from(text)), fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes))),
  )
  .map(([code, reason]): Frame => {
    const payload = code === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.from([code >> 8, code & 0xff]), reason.subarray(0, 123)]);
    return { fin: true, rsv: 0, opcode: 8, masked: true, payload };
  });

const anyFrame = fc.oneof({ arbitrary: randomFrame, weight: 4 }, closeFrame);

/** One socket's worth of bytes: random bytes, or frames (the first one decides the verdict when it can) and a tail. */
const wireInput = fc.oneof(
  fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({
    kind: fc.constant('frames' as const),
    frames: fc.array(anyFrame, { minLength: 1, maxLength: 3 }),
    tail: fc.uint8Array({ maxLength: 8 }),
  }),
);

const tally = new Map<string, number>();
let sockets = 0;

describe('fuzzing the WebSocket framing (seeded)', () => {
  it(`closes every socket that writes arbitrary bytes or frames with a close frame, and leaks nothing`, { timeout: 120_000 }, async () => {
    const begun = Date.now();
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(wireInput, { minLength: BATCH, maxLength: BATCH }), async (inputs) => {
          await Promise.all(
            inputs.map(async (input) => {
              const bytes = input.kind === 'bytes' ? Buffer.from(input.bytes) : Buffer.concat([...input.frames.map(encode), Buffer.from(input.tail)]);
              const verdict = input.kind === 'frames' ? firstFrameVerdict(input.frames[0]!) : undefined;
              const probe = await openSocket(gw.url);
              // Straight onto the TCP stream, past the client's own framing; the client still reads the server's close.
              (probe.ws as unknown as { _socket: Socket })._socket.write(bytes);
              let outcome: Outcome;
              try {
                outcome = await ending(probe, HANDSHAKE_TIMEOUT_MS + 10_000);
              } finally {
                probe.ws.terminate();
              }
              sockets++;
              const label = `${input.kind} ${bytes.toString('hex').slice(0, 120)}: closed ${outcome.code} "${outcome.reason}"`;
              tally.set(String(outcome.code), (tally.get(String(outcome.code)) ?? 0) + 1);
              // Always a close frame from the gateway: never a dropped connection (1006).
              expect(outcome.code, label).not.toBe(1006);
              if (verdict !== undefined) expect(outcome.code, label).toBe(verdict);
              else if (![1002, 1007, 1008, 1009].includes(outcome.code)) {
                // Anything else is the echo of a close the client sent (its code, or 1005 for none), never the gateway's
                // own internal error.
                const sentClose = input.kind === 'bytes' || input.frames.some((frame) => frame.opcode === 8);
                expect(sentClose && (outcome.code === 1005 || isValidCloseCode(outcome.code)), label).toBe(true);
              }
              if (outcome.code === 1008) expect(outcome.reason, label).toBe('handshake timeout');
            }),
          );
        }),
        { seed: SEED, numRuns: BATCHES },
      );
    } catch (error) {
      console.error(`fuzz wire failed: seed ${SEED} (replay with ACTORGATE_FUZZ_SEED=${SEED})`);
      throw error;
    }
    await settles(() => gw.gateway.stats(), baseline);
    const report = await monitor.stop();
    console.log(
      `fuzz wire: ${sockets} sockets (seed ${SEED}, ${BATCH} at a time) in ${Date.now() - begun} ms; closes ${JSON.stringify(Object.fromEntries(tally))}; ` +
        `healthy client: ${report.requests} requests (max ${report.maxRequestMs} ms), ${report.handshakes} handshakes (max ${report.maxHandshakeMs} ms)`,
    );
    expect(sockets).toBe(BATCH * BATCHES);
    // Liveness, not latency: every health request answered and every handshake completed (the gateway cuts one
    // off at its timeout, the monitor gives up at 10 s: either is a failure), and handshakes kept coming.
    expect(report.failures).toEqual([]);
    expect(report.handshakes).toBeGreaterThan(2);
    await settles(() => gw.gateway.stats(), idle);
    expect(gw.logs.lines.filter((line) => line.level >= 50).map((line) => line.msg)).toEqual([]);
  });
});
