// Fuzzing one real gateway on 127.0.0.1 over real sockets, seeded: arbitrary text, JSON and bytes as first frames,
// connects with one field wrong, invalid UTF-8, binary, oversized and deeply nested frames, and arbitrary frames after
// the handshake. Each case gets its own socket and must end exactly as the protocol says (close code and reason, the
// one error response before it, or hello-ok); after each property the gateway holds nothing more than before (no live
// actor, no timer), and a healthy client is served all along. Replay with ACTORGATE_FUZZ_SEED, scale with
// ACTORGATE_FUZZ_SCALE (1 = 5,000 socket cases).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayStats } from '../../src/gateway/create-gateway.js';
import {
  ending,
  envNumber,
  handshake,
  healthMonitor,
  openSocket,
  request,
  settles,
  waitFrame,
  type Json,
  type Outcome,
  type Probe,
} from '../helpers/chaos.js';
import {
  CONNECT_FIELDS,
  PRE_AUTH_MAX_BYTES,
  anyFrameText,
  classify,
  connectWithOneWrongField,
  expectedForFirstFrame,
  isUtf8,
  requestLike,
  type Expected,
} from '../helpers/frame-oracle.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const SEED = envNumber('ACTORGATE_FUZZ_SEED', 0x7a11);
const SCALE = envNumber('ACTORGATE_FUZZ_SCALE', 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
const totals = { cases: 0, byCode: new Map<number | 'open', number>() };

let gw: TestGateway;
let idle: GatewayStats; // before anyone connected
let baseline: GatewayStats; // with the healthy client connected
let monitor: ReturnType<typeof healthMonitor>;
const started = Date.now();

beforeAll(async () => {
  // One address sends every case: lift the per-address cap on sockets in their handshake (not what is tested here).
  gw = await startTestGateway({ maxPreauthPerAddress: 0 });
  idle = gw.gateway.stats();
  monitor = healthMonitor(gw.url, gw.token, { intervalMs: 50, handshakeEveryMs: 250 });
  await settles(() => gw.gateway.stats(), { ...gw.gateway.stats(), sockets: 1, ready: 1, liveConnectionActors: 1, presenceEntries: 1 });
  baseline = gw.gateway.stats();
  expect(baseline).toMatchObject({ sockets: 1, ready: 1, liveConnectionActors: 1, supervisorChildren: 0 });
});

afterAll(async () => {
  await monitor?.stop();
  await gw?.close();
});

function tally(code: number | 'open'): void {
  totals.cases++;
  totals.byCode.set(code, (totals.byCode.get(code) ?? 0) + 1);
}

/** Runs a seeded async property; then the gateway must be back to its baseline: no actor, socket or timer left. */
async function property<T>(name: string, arbitrary: fc.Arbitrary<T>, numRuns: number, body: (value: T) => Promise<void>) {
  const begun = Date.now();
  try {
    await fc.assert(fc.asyncProperty(arbitrary, body), { seed: SEED, numRuns });
  } catch (error) {
    console.error(`fuzz gateway "${name}" failed: seed ${SEED} (replay with ACTORGATE_FUZZ_SEED=${SEED})`);
    throw error;
  }
  await settles(() => gw.gateway.stats(), baseline);
  console.log(`fuzz gateway ${name}: ${numRuns} socket cases (seed ${SEED}) in ${Date.now() - begun} ms; stats back to baseline`);
}

const isChallenge = (frame: Json | undefined) => frame?.type === 'event' && frame.event === 'connect.challenge';
const responses = (outcome: { frames: Json[] }) => outcome.frames.filter((frame) => frame.type === 'res');

/** A closed first-frame case: the challenge, at most the one error response the protocol asks for, then the close. */
function expectClosed(outcome: Outcome, expected: Expected, label: string): void {
  const context = `${label}: ${JSON.stringify({ code: outcome.code, reason: outcome.reason, frames: outcome.frames }).slice(0, 600)}`;
  expect(isChallenge(outcome.frames[0]), context).toBe(true);
  expect(outcome.code, context).toBe(expected.code);
  if (expected.reason) expect(outcome.reason, context).toMatch(expected.reason);
  expect(Buffer.byteLength(outcome.reason), context).toBeLessThanOrEqual(120); // PROTOCOL.md: reasons are at most 120 bytes
  const answered = responses(outcome);
  if (expected.answers === undefined) expect(answered, context).toEqual([]);
  else {
    expect(answered, context).toHaveLength(1);
    expect(answered[0], context).toMatchObject({ id: expected.answers, ok: false, error: { code: expect.any(String), message: expect.any(String) } });
  }
  expect(outcome.frames, context).toHaveLength(1 + answered.length);
  tally(outcome.code);
}

/** Sends `data` as the first frame on a fresh socket and checks the outcome against `expected`. */
async function firstFrameCase(data: string | Buffer, expected: Expected, label: string, binary = false): Promise<void> {
  const probe = await openSocket(gw.url);
  try {
    await firstFrameOutcome(probe, data, expected, label, binary);
  } finally {
    probe.ws.terminate(); // a failed case leaves nothing open for the next ones
  }
}

async function firstFrameOutcome(probe: Probe, data: string | Buffer, expected: Expected, label: string, binary: boolean): Promise<void> {
  probe.ws.send(data, { binary });
  if (expected.code !== undefined) {
    expectClosed(await ending(probe), expected, label);
    return;
  }
  // The handshake succeeds: hello-ok, and the socket is served until the client closes it.
  const hello = await waitFrame(probe, (frame) => frame.type === 'res' && frame.id === expected.answers);
  expect(hello, label).toMatchObject({ ok: true, payload: { type: 'hello-ok' } });
  // Served: a request is answered (ok, or refused for the role and scopes this client asked for).
  expect((await request(probe, 'health')).type, label).toBe('res');
  probe.ws.close(1000);
  const outcome = await ending(probe);
  expect(outcome.code, label).toBe(1000);
  tally('open');
}

const textCase = (text: string) => firstFrameCase(text, expectedForFirstFrame(text, gw.token), text.slice(0, 300));

/** Bytes sent in a text frame: 1007 from the WebSocket layer when they are not UTF-8, else what the text deserves. */
function expectedForBytes(bytes: Uint8Array, binary: boolean): Expected {
  // Only JSON text frames are part of the protocol: a binary frame is malformed (1002), whatever it holds.
  if (binary) return { code: 1002, reason: /^malformed frame$/ };
  // RFC 6455 8.1: a text frame that is not UTF-8 fails the connection with 1007 (ws does it before the gateway sees it).
  if (!isUtf8(bytes)) return { code: 1007 };
  return expectedForFirstFrame(Buffer.from(bytes).toString('utf8'), gw.token);
}

/** Byte sequences that are never valid UTF-8, each with a reason. */
const INVALID_UTF8: number[][] = [
  [0x80], // lone continuation byte
  [0xbf],
  [0xc0, 0xaf], // overlong '/'
  [0xc1, 0xbf],
  [0xe0, 0x80, 0xaf], // overlong
  [0xed, 0xa0, 0x80], // UTF-16 surrogate
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0xf5], [0xfe], [0xff],
  [0xc3], // truncated two-byte sequence
  [0xe2, 0x82], // truncated three-byte sequence
];

/** Valid UTF-8 (JSON-ish text) with one invalid sequence spliced in at any position. */
const invalidUtf8 = fc
  .tuple(anyFrameText(), fc.nat({ max: INVALID_UTF8.length - 1 }), fc.nat())
  .map(([text, which, at]) => {
    const bytes = Buffer.from(text, 'utf8');
    // Splice between characters, so the damage is only the inserted sequence.
    let position = bytes.length === 0 ? 0 : at % (bytes.length + 1);
    while (position < bytes.length && (bytes[position]! & 0xc0) === 0x80) position++;
    return Buffer.concat([bytes.subarray(0, position), Buffer.from(INVALID_UTF8[which]!), bytes.subarray(position)]);
  });

/** Frames near and far above the pre-auth limit, and deeply nested JSON, bare or inside a connect. */
const bigOrDeep = fc.oneof(
  fc.record({ kind: fc.constant('size' as const), bytes: fc.integer({ min: PRE_AUTH_MAX_BYTES - 64, max: PRE_AUTH_MAX_BYTES + 64 }), fill: fc.constantFrom('json', 'junk', 'connect') }),
  fc.record({ kind: fc.constant('size' as const), bytes: fc.integer({ min: PRE_AUTH_MAX_BYTES + 65, max: 1024 * 1024 }), fill: fc.constantFrom('json', 'junk', 'connect') }),
  fc.record({ kind: fc.constant('deep' as const), depth: fc.integer({ min: 1, max: 40_000 }), shape: fc.constantFrom('array', 'object'), where: fc.constantFrom('bare', 'params', 'client', 'permissions') }),
);

function buildBigOrDeep(value: { kind: 'size'; bytes: number; fill: string } | { kind: 'deep'; depth: number; shape: string; where: string }): string {
  if (value.kind === 'size') {
    const head =
      value.fill === 'json'
        ? '{"type":"req","id":"big","method":"health","params":"'
        : value.fill === 'connect'
          ? `{"type":"req","id":"big","method":"connect","params":{"minProtocol":3,"maxProtocol":4,"client":{"id":"c","version":"1","platform":"linux","mode":"test"},"auth":{"token":"${gw.token}"},"pathEnv":"`
          : 'x';
    const tail = value.fill === 'json' ? '"}' : value.fill === 'connect' ? '"}}' : '';
    return head + 'a'.repeat(Math.max(0, value.bytes - head.length - tail.length)) + tail;
  }
  const open = value.shape === 'array' ? '[' : '{"a":';
  const close = value.shape === 'array' ? ']' : '}';
  const nested = open.repeat(value.depth) + '0' + close.repeat(value.depth);
  const client = (inner: string) => `{"id":"c","version":"1","platform":"linux","mode":"test","displayName":${inner}}`;
  const connect = (extra: string) =>
    `{"type":"req","id":"deep","method":"connect","params":{"minProtocol":3,"maxProtocol":4,"auth":{"token":"${gw.token}"},${extra}}}`;
  switch (value.where) {
    case 'bare':
      return nested;
    case 'params':
      return `{"type":"req","id":"deep","method":"health","params":${nested}}`;
    case 'client':
      return connect(`"client":${client(nested)}`);
    default:
      return connect(`"client":${client('"d"')},"permissions":{"p":${nested}}`);
  }
}

describe('fuzzing the gateway over real sockets (seeded)', () => {
  it('answers arbitrary first frames (JSON of any shape, request-like, connects right and wrong, non-JSON) with the right close', { timeout: 120_000 }, async () => {
    await property('arbitrary first frames', anyFrameText(gw.token), runs(1_500), textCase);
  });

  it('closes a connect with any one field wrong with 1002, after an error naming that field', { timeout: 120_000 }, async () => {
    const tried = new Map<string, number>();
    await property('one wrong connect field', connectWithOneWrongField, runs(800), async ({ frame, pointer, id, field }) => {
      tried.set(field, (tried.get(field) ?? 0) + 1);
      const text = JSON.stringify(frame);
      const probe = await openSocket(gw.url);
      probe.ws.send(text);
      const outcome = await ending(probe).finally(() => probe.ws.terminate());
      expectClosed(outcome, { code: 1002, reason: /^invalid connect params$/, answers: id }, text);
      const message = (responses(outcome)[0]!.error as { message: string }).message;
      expect(message, text).toMatch(/^invalid connect params: /);
      const path = message.slice('invalid connect params: '.length);
      expect(path.startsWith(`${pointer}:`) || path.startsWith(`${pointer}/`), `${path} should name ${pointer}`).toBe(true);
    });
    // Every field had its turn, several times.
    for (const { path } of CONNECT_FIELDS) expect(tried.get(path) ?? 0, path).toBeGreaterThanOrEqual(Math.min(5, runs(800) / 100));
  });

  it('answers arbitrary bytes, in text and in binary frames', { timeout: 120_000 }, async () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 256 }),
      anyFrameText(gw.token).map((text) => new Uint8Array(Buffer.from(text, 'utf8'))),
      invalidUtf8.map((buffer) => new Uint8Array(buffer)),
    );
    await property('arbitrary bytes', fc.tuple(bytes, fc.boolean()), runs(800), async ([data, binary]) => {
      const expected = expectedForBytes(data, binary);
      await firstFrameCase(Buffer.from(data), expected, `${binary ? 'binary' : 'text'} ${Buffer.from(data).toString('hex').slice(0, 200)}`, binary);
    });
  });

  it('fails a text frame that is not UTF-8 with 1007', { timeout: 120_000 }, async () => {
    await property('invalid UTF-8', invalidUtf8, runs(400), async (data) => {
      expect(isUtf8(data)).toBe(false);
      await firstFrameCase(data, { code: 1007 }, data.toString('hex').slice(0, 200));
    });
  });

  it('closes frames above 64 KiB before the handshake with 1009, and handles deeply nested JSON', { timeout: 120_000 }, async () => {
    await property('oversized and deeply nested', bigOrDeep, runs(500), async (shape) => {
      const text = buildBigOrDeep(shape);
      const bytes = Buffer.byteLength(text);
      const expected: Expected = bytes > PRE_AUTH_MAX_BYTES ? { code: 1009 } : expectedForFirstFrame(text, gw.token);
      await firstFrameCase(text, expected, `${JSON.stringify(shape)} (${bytes} bytes)`);
    });
  });

  it('after the handshake, answers every request-like frame and keeps the socket, and closes on what cannot be answered', { timeout: 120_000 }, async () => {
    const method = fc.oneof(fc.constantFrom(...gw.gateway.features().methods), fc.string({ unit: 'binary', maxLength: 20 }));
    const json = fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' });
    const deep = fc.integer({ min: 10, max: 150_000 });
    const frame = fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant('request' as const), id: fc.string({ minLength: 1, maxLength: 12 }), method, params: json }), weight: 4 },
      { arbitrary: fc.record({ kind: fc.constant('text' as const), text: anyFrameText(gw.token) }), weight: 3 },
      { arbitrary: fc.record({ kind: fc.constant('text' as const), text: requestLike.map((v) => JSON.stringify(v)) }), weight: 2 },
      { arbitrary: fc.record({ kind: fc.constant('deep' as const), method, depth: deep }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('large' as const), bytes: fc.integer({ min: PRE_AUTH_MAX_BYTES + 1, max: 2 * 1024 * 1024 }) }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('binary' as const), bytes: fc.uint8Array({ maxLength: 64 }) }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('utf8' as const), bytes: invalidUtf8 }), weight: 1 },
    );
    const scopes = fc.constantFrom(['operator.read'], ['operator.admin'], ['operator.pairing', 'operator.write']);
    await property('frames after the handshake', fc.tuple(frame, scopes), runs(1_000), async ([input, granted]) => {
      const { probe } = await handshake(gw.url, gw.token, { scopes: granted });
      try {
        await afterHandshake(probe, input, granted);
      } finally {
        probe.ws.terminate();
      }
    });
  });

  it('answers a node.invoke whose params nest 200,000 deep once, and the node and the gateway keep working', { timeout: 60_000 }, async () => {
    const node = await handshake(gw.url, gw.token, {
      role: 'node',
      scopes: [],
      client: { id: 'fuzz-node', version: '1.0.0', platform: 'linux', mode: 'node' },
      commands: ['system.which'],
    });
    const operator = await handshake(gw.url, gw.token, { scopes: ['operator.admin'] });
    try {
      for (const depth of [1_000, 20_000, 200_000]) {
        const id = `deep-${depth}`;
        operator.probe.ws.send(
          `{"type":"req","id":"${id}","method":"node.invoke","params":{"nodeId":"fuzz-node","command":"system.which","timeoutMs":2000,"idempotencyKey":"${id}","params":${'['.repeat(depth)}${']'.repeat(depth)}}}`,
        );
        // The node may be asked (shallow enough to serialise) and then answers; either way the operator gets one answer.
        const asked = await waitFrame(node.probe, (f) => f.event === 'node.invoke.request' && (f.payload as Json).idempotencyKey === id, 500).catch(() => undefined);
        if (asked) await request(node.probe, 'node.invoke.result', { id: (asked.payload as Json).id, nodeId: 'fuzz-node', ok: true, payloadJSON: '{}' });
        const answer = await waitFrame(operator.probe, (f) => f.type === 'res' && f.id === id, 10_000);
        expect(answer.type).toBe('res');
        expect(operator.probe.frames.filter((f) => f.type === 'res' && f.id === id)).toHaveLength(1);
        tally('open');
      }
      const invoked = request(operator.probe, 'node.invoke', { nodeId: 'fuzz-node', command: 'system.which', idempotencyKey: 'after' });
      const asked = await waitFrame(node.probe, (f) => f.event === 'node.invoke.request' && (f.payload as Json).idempotencyKey === 'after');
      await request(node.probe, 'node.invoke.result', { id: (asked.payload as Json).id, nodeId: 'fuzz-node', ok: true, payloadJSON: '{"fine":true}' });
      expect(await invoked).toMatchObject({ ok: true, payload: { payload: { fine: true } } });
    } finally {
      node.probe.ws.close(1000);
      operator.probe.ws.close(1000);
      await Promise.all([node.probe.closed, operator.probe.closed]);
    }
    await settles(() => gw.gateway.stats(), baseline);
  });

  it('kept serving a healthy client throughout, and holds nothing it did not hold before', async () => {
    const report = await monitor.stop();
    const elapsed = Date.now() - started;
    console.log(
      `fuzz gateway: ${totals.cases} socket cases in ${elapsed} ms (seed ${SEED}); outcomes ${JSON.stringify(Object.fromEntries(totals.byCode))}; ` +
        `healthy client: ${report.requests} health requests (max ${report.maxRequestMs} ms), ${report.handshakes} handshakes (max ${report.maxHandshakeMs} ms)`,
    );
    // Liveness, not latency (this process is the gateway, the fuzzer and the healthy client, beside 2 MiB and
    // 150,000-deep frames): every health request answered within the monitor's 10 s, every handshake completed
    // within the gateway's 5 s timeout, and both kept coming all along.
    expect(report.failures).toEqual([]);
    expect(report.requests).toBeGreaterThan(10);
    expect(report.handshakes).toBeGreaterThan(5);
    await settles(() => gw.gateway.stats(), idle);
    expect(totals.cases).toBeGreaterThanOrEqual(runs(5_000));
    // Nothing went wrong inside the gateway that it did not handle: no error lines but handler failures (counted).
    const handlerFailures = gw.logs.lines.filter((line) => line.msg === 'request handler failed');
    console.log(`fuzz gateway: ${handlerFailures.length} requests failed inside their handler (answered UNAVAILABLE internal error)`);
    const errors = gw.logs.lines.filter((line) => line.level >= 50 && line.msg !== 'request handler failed');
    expect(errors.map((line) => line.msg)).toEqual([]);
  });
});

type AfterInput =
  | { kind: 'request'; id: string; method: string; params: unknown }
  | { kind: 'text'; text: string }
  | { kind: 'deep'; method: string; depth: number }
  | { kind: 'large'; bytes: number }
  | { kind: 'binary'; bytes: Uint8Array }
  | { kind: 'utf8'; bytes: Buffer };

/** A ready operator's socket limit: 25 MiB when it may call node.invoke (write, admin), else 64 KiB. */
function operatorMaxPayload(scopes: readonly string[]): number {
  return scopes.includes('operator.write') || scopes.includes('operator.admin') ? 25 * 1024 * 1024 : PRE_AUTH_MAX_BYTES;
}

async function afterHandshake(probe: Probe, input: AfterInput, scopes: readonly string[]): Promise<void> {
  let data: string | Buffer;
  let binary = false;
  let answers: string | undefined; // the id the gateway must answer, keeping the socket open
  let closeCode: number | undefined; // else the code it must close with
  switch (input.kind) {
    case 'request':
      data = JSON.stringify({ type: 'req', id: input.id, method: input.method, params: input.params });
      answers = input.id;
      break;
    case 'deep':
      data = `{"type":"req","id":"deep","method":${JSON.stringify(input.method)},"params":{"nodeId":"n","command":"c","idempotencyKey":"k","params":${'['.repeat(input.depth)}${']'.repeat(input.depth)}}}`;
      answers = 'deep';
      break;
    case 'large':
      // Above the pre-auth limit, far below the 25 MiB one: answered once the handshake is done (health takes at
      // most 64 KiB: refused FRAME_TOO_LARGE_FOR_METHOD), or closed 1009 on a read-only socket (below).
      data = `{"type":"req","id":"large","method":"health","params":"${'a'.repeat(input.bytes)}"}`;
      answers = 'large';
      break;
    case 'binary':
      data = Buffer.from(input.bytes);
      binary = true;
      closeCode = 1002;
      break;
    case 'utf8':
      data = input.bytes;
      closeCode = 1007;
      break;
    case 'text': {
      data = input.text;
      const classified = classify(input.text);
      // A frame with a request id is answered (an error for the malformed, "already connected" for a connect);
      // one without cannot be answered and ends the connection as a protocol error.
      if (classified.kind === 'malformed' && classified.id === undefined) closeCode = 1002;
      else answers = classified.id;
      break;
    }
  }
  // A frame above the socket's own limit is closed at its header (1009), whatever it holds.
  if ((typeof data === 'string' ? Buffer.byteLength(data) : data.length) > operatorMaxPayload(scopes)) closeCode = 1009;
  const label = `${input.kind}: ${(typeof data === 'string' ? data : data.toString('hex')).slice(0, 300)}`;
  probe.ws.send(data, { binary });
  if (closeCode !== undefined) {
    const outcome = await ending(probe);
    expect(outcome.code, label).toBe(closeCode);
    if (closeCode === 1002) expect(outcome.reason, label).toBe('malformed frame');
    tally(outcome.code);
    return;
  }
  const answer = await waitFrame(probe, (f) => f.type === 'res' && f.id === answers, 10_000);
  if (answer.ok !== true) expect(answer.error, label).toMatchObject({ code: expect.any(String), message: expect.any(String) });
  // Exactly one answer, and the socket is still served.
  expect((await request(probe, 'health')).ok, label).toBe(true);
  expect(probe.frames.filter((f) => f.type === 'res' && f.id === answers), label).toHaveLength(1);
  probe.ws.close(1000);
  expect((await ending(probe)).code, label).toBe(1000);
  tally('open');
}
