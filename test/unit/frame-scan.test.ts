import { describe, expect, it } from 'vitest';
import { DetailCode, ProtocolLimits } from '../../machines/protocol.js';
import { FRAME_SCAN_LIMITS, decodeTextFrame, type FrameCaller, type MethodFrameLimits } from '../../src/protocol/decode.js';
import { scanFrame, type FrameScan } from '../../src/protocol/frame-scan.js';

const WIDE = { maxDepth: 1_000_000, maxContainers: 1_000_000, maxValues: 10_000_000 };
const scan = (text: string, limits = WIDE): FrameScan => ({ ...scanFrame(Buffer.from(text), limits) });
const idOf = (text: string, s: FrameScan) => (s.idStart < 0 ? undefined : Buffer.from(text).toString('utf8', s.idStart, s.idEnd));
const methodOf = (text: string, s: FrameScan) => (s.methodStart < 0 ? undefined : Buffer.from(text).toString('utf8', s.methodStart, s.methodEnd));

/** The number of values JSON.parse makes of `text` (keys apart): what the scan's `values` counts. */
function parsedValues(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 1;
  return 1 + (Array.isArray(value) ? value : Object.values(value)).reduce<number>((sum, child) => sum + parsedValues(child), 0);
}
function parsedContainers(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  return 1 + (Array.isArray(value) ? value : Object.values(value)).reduce<number>((sum, child) => sum + parsedContainers(child), 0);
}
function parsedDepth(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  return 1 + Math.max(0, ...(Array.isArray(value) ? value : Object.values(value)).map(parsedDepth));
}

describe('frame scan', () => {
  it('counts containers, values and depth as JSON.parse would build them', () => {
    const texts = [
      '{}',
      '[]',
      '{"type":"req","id":"a","method":"health"}',
      '{"type":"req","id":"a","method":"health","params":{}}',
      '[1,[2,3],{"a":[],"b":{"c":[{}]}}]',
      ' { "a" : [ 1 , 2 , [ ] , { } ] , "b" : null } ',
      '{"s":"[{,}]\\"[{","t":["\\\\",{"u":"\\\\\\"{"}]}',
      '[[[[[[]]]]],[[]]]',
      '"just a string"',
      '42',
    ];
    for (const text of texts) {
      const value: unknown = JSON.parse(text);
      expect(scan(text), text).toMatchObject({ containers: parsedContainers(value), values: parsedValues(value), depth: parsedDepth(value), exceeded: undefined });
    }
  });

  it('skips brackets, commas, quotes and escapes inside strings', () => {
    const text = JSON.stringify({ type: 'req', id: 'x"},{[', method: 'h\\"', params: { a: '{[,]}"\\', b: '\\', c: '\\\\"' } });
    const s = scan(text);
    expect(s).toMatchObject({ containers: 2, values: 8, depth: 2 });
    expect(JSON.parse(`"${idOf(text, s)}"`)).toBe('x"},{[');
    expect(JSON.parse(`"${methodOf(text, s)}"`)).toBe('h\\"');
    // A string of backslashes ending a value, then more members: the quote after an even run of backslashes ends it.
    const tricky = '{"id":"a\\\\\\\\","method":"m","params":["\\\\",{}]}';
    const t = scan(tricky);
    expect(JSON.parse(tricky)).toMatchObject({ id: 'a\\\\', method: 'm' });
    expect(t).toMatchObject({ containers: 3, depth: 3 });
    expect(idOf(tricky, t)).toBe('a\\\\\\\\');
    expect(methodOf(tricky, t)).toBe('m');
  });

  it('reads UTF-8: characters of several bytes never look like quotes, brackets or backslashes', () => {
    const text = JSON.stringify({ id: 'é€😀"', method: 'ü', params: ['€[', { '😀': '{"' }] });
    const s = scan(text);
    expect(s).toMatchObject({ containers: 3, depth: 3, values: parsedValues(JSON.parse(text)) });
    expect(JSON.parse(`"${idOf(text, s)}"`)).toBe('é€😀"');
    expect(methodOf(text, s)).toBe('ü');
  });

  it('finds only the top-level id and method, the last of duplicates, and no value that is not a string', () => {
    const nested = '{"params":{"id":"inner","method":"inner"},"id":"outer","method":"health"}';
    expect([idOf(nested, scan(nested)), methodOf(nested, scan(nested))]).toEqual(['outer', 'health']);
    const duplicate = '{"id":"first","id":"second","method":"a","method":"b"}';
    expect([idOf(duplicate, scan(duplicate)), methodOf(duplicate, scan(duplicate))]).toEqual(['second', 'b']);
    for (const text of ['{"id":5,"x":"y"}', '{"id":{"a":"b"},"x":"y"}', '{"id":["a"],"x":"y"}', '["id","a"]', '{"x":"id","y":"method"}']) {
      expect(scan(text).idStart, text).toBe(-1);
      expect(scan(text).methodStart, text).toBe(-1);
    }
    // A value that is a key's name is not a key.
    const valueNamedId = '{"type":"id","id":"real"}';
    expect(idOf(valueNamedId, scan(valueNamedId))).toBe('real');
  });

  it('goes over each limit exactly one past it, and not at it', () => {
    const depth = (n: number) => '['.repeat(n) + ']'.repeat(n);
    expect(scan(depth(10), { ...WIDE, maxDepth: 10 }).exceeded).toBeUndefined();
    expect(scan(depth(11), { ...WIDE, maxDepth: 10 }).exceeded).toBe('depth');
    const containers = (n: number) => `[${Array.from({ length: n - 1 }, () => '{}').join(',')}]`;
    expect(scan(containers(100), { ...WIDE, maxContainers: 100 })).toMatchObject({ containers: 100, exceeded: undefined });
    expect(scan(containers(101), { ...WIDE, maxContainers: 100 }).exceeded).toBe('containers');
    const values = (n: number) => `[${Array.from({ length: n - 1 }, () => '0').join(',')}]`;
    expect(scan(values(100), { ...WIDE, maxValues: 100 })).toMatchObject({ values: 100, exceeded: undefined });
    expect(scan(values(101), { ...WIDE, maxValues: 100 }).exceeded).toBe('values');
    // The first member of a container counts as a value too.
    expect(scan('[[[0]]]', { ...WIDE, maxValues: 4 }).exceeded).toBeUndefined();
    expect(scan('[[[0]]]', { ...WIDE, maxValues: 3 }).exceeded).toBe('values');
  });

  it('stops counting at a limit, and stops reading there once the id is known', () => {
    const many = `{"type":"req","id":"r1","method":"health","params":[${'{},'.repeat(50_000)}{}]}`;
    const s = scan(many, { ...WIDE, maxContainers: 10 });
    expect(s).toMatchObject({ exceeded: 'containers', containers: 11 });
    expect(idOf(many, s)).toBe('r1');
    // An id after the params is still found (the rest of the frame is read for it, without counting).
    const late = `{"type":"req","method":"health","params":[${'{},'.repeat(1_000)}{}],"id":"late"}`;
    const t = scan(late, { ...WIDE, maxContainers: 10 });
    expect(t).toMatchObject({ exceeded: 'containers', containers: 11 });
    expect(idOf(late, t)).toBe('late');
  });

  it('reads text that is not JSON without failing (JSON.parse refuses it afterwards)', () => {
    for (const text of ['', '{', '}}}]]]', '{"a', '"\\', '[1,2', '{"id":"x', '\\"\\"', '{"id":"a"}}}}{{{"id":"b"']) {
      expect(() => scanFrame(Buffer.from(text), FRAME_SCAN_LIMITS), JSON.stringify(text)).not.toThrow();
    }
  });
});

describe('frames refused before parsing', () => {
  const sizes: MethodFrameLimits = {
    maxFrameBytes: (method) => (method === 'big' ? ProtocolLimits.maxPayloadBytes : ProtocolLimits.smallFrameBytes),
    maxPayloadFor: () => ProtocolLimits.maxPayloadBytes,
  };
  const reader: FrameCaller = { role: 'operator', scopes: ['operator.read'] };
  const frame = (method: string, params: string, id = 'r') => `{"type":"req","id":"${id}","method":"${method}","params":${params}}`;

  it('refuses params nested past maxParamsDepth (PARAMS_TOO_DEEP), and takes them at it', () => {
    const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
    expect(decodeTextFrame(frame('m', nested(ProtocolLimits.maxParamsDepth)))).toMatchObject({ type: 'frame.request', id: 'r' });
    expect(decodeTextFrame(frame('m', nested(ProtocolLimits.maxParamsDepth + 1)))).toEqual({
      type: 'frame.malformed',
      id: 'r',
      message: 'params too deeply nested',
      details: { code: DetailCode.PARAMS_TOO_DEEP, maxDepth: ProtocolLimits.maxParamsDepth },
    });
  });

  it('refuses frames with too many containers or values (FRAME_TOO_COMPLEX)', () => {
    const details = { code: DetailCode.FRAME_TOO_COMPLEX, maxContainers: ProtocolLimits.maxFrameContainers, maxValues: ProtocolLimits.maxFrameValues };
    // The frame and its params are two containers; the params array holds the rest.
    const objects = (n: number) => `[${Array.from({ length: n }, () => '{}').join(',')}]`;
    expect(decodeTextFrame(frame('big', objects(ProtocolLimits.maxFrameContainers - 2)))).toMatchObject({ type: 'frame.request' });
    expect(decodeTextFrame(frame('big', objects(ProtocolLimits.maxFrameContainers - 1)))).toEqual({ type: 'frame.malformed', id: 'r', message: 'frame too complex', details });
    // Values: the frame, its 4 members, and the params' elements.
    const zeros = (n: number) => `[${Array.from({ length: n }, () => '0').join(',')}]`;
    expect(decodeTextFrame(frame('big', zeros(ProtocolLimits.maxFrameValues - 5)))).toMatchObject({ type: 'frame.request' });
    expect(decodeTextFrame(frame('big', zeros(ProtocolLimits.maxFrameValues - 4)))).toMatchObject({ type: 'frame.malformed', details });
  });

  it("holds a ready caller's frame to its method's size: small for methods without big params and for those it may not call", () => {
    const filler = (chars: number) => `{"pad":"${'x'.repeat(chars)}"}`;
    const overhead = frame('health', filler(0)).length;
    const atLimit = frame('health', filler(ProtocolLimits.smallFrameBytes - overhead));
    expect(atLimit.length).toBe(ProtocolLimits.smallFrameBytes);
    expect(decodeTextFrame(atLimit, sizes, reader)).toMatchObject({ type: 'frame.request', method: 'health' });
    const over = frame('health', filler(ProtocolLimits.smallFrameBytes - overhead + 1));
    expect(decodeTextFrame(over, sizes, reader)).toEqual({
      type: 'frame.malformed',
      id: 'r',
      message: `frame too large for health: more than ${ProtocolLimits.smallFrameBytes} bytes`,
      details: { code: DetailCode.FRAME_TOO_LARGE_FOR_METHOD, method: 'health', maxBytes: ProtocolLimits.smallFrameBytes },
    });
    // Bytes, not characters: 3-byte characters count three times.
    const euros = frame('health', `"${'€'.repeat(ProtocolLimits.smallFrameBytes / 3)}"`);
    expect(euros.length).toBeLessThan(ProtocolLimits.smallFrameBytes);
    expect(decodeTextFrame(euros, sizes, reader)).toMatchObject({ details: { code: DetailCode.FRAME_TOO_LARGE_FOR_METHOD } });
    expect(decodeTextFrame(frame('big', filler(1_000_000)), sizes, reader)).toMatchObject({ type: 'frame.request', method: 'big' });
    // Without a method the frame is held to the small size too; without limits (the handshake) only the scan's apply.
    const noMethod = `{"type":"req","id":"n","params":${filler(200_000)}}`;
    expect(decodeTextFrame(noMethod, sizes, reader)).toMatchObject({ id: 'n', details: { code: DetailCode.FRAME_TOO_LARGE_FOR_METHOD, maxBytes: ProtocolLimits.smallFrameBytes } });
    expect(decodeTextFrame(over)).toMatchObject({ type: 'frame.request' });
  });

  it('answers with the id when it can be echoed, unescaped, and without one when it is too long', () => {
    const deep = '['.repeat(200) + ']'.repeat(200);
    expect(decodeTextFrame(`{"id":"a\\u0062\\"c","params":${deep}}`)).toMatchObject({ id: 'ab"c' });
    const long = decodeTextFrame(`{"id":"${'i'.repeat(2_000)}","params":${deep}}`);
    expect(long).toMatchObject({ type: 'frame.malformed', details: { code: DetailCode.PARAMS_TOO_DEEP } });
    expect('id' in long).toBe(false);
  });
});

describe("the registry's frame limits", () => {
  const registry = async () => {
    const { MethodRegistry } = await import('../../src/methods/registry.js');
    const { default: pino } = await import('pino');
    const methods = new MethodRegistry(pino({ enabled: false }));
    methods.define('app.read', { scope: 'operator.read', maxFrameBytes: ProtocolLimits.smallFrameBytes, handle: () => ({}) });
    methods.define('app.upload', { scope: 'operator.write', handle: () => ({}) });
    methods.define('app.node', { role: 'node', maxFrameBytes: 1024 * 1024, handle: () => ({}) });
    return methods;
  };
  const reader: FrameCaller = { role: 'operator', scopes: ['operator.read'] };
  const writer: FrameCaller = { role: 'operator', scopes: ['operator.write'] };
  const node: FrameCaller = { role: 'node', scopes: [] };

  it("gives each method its own limit for callers who may call it, the small one otherwise, and each caller the largest of its methods'", async () => {
    const methods = await registry();
    expect(methods.maxFrameBytes('app.upload', writer)).toBe(ProtocolLimits.maxPayloadBytes);
    expect(methods.maxFrameBytes('app.upload', reader)).toBe(ProtocolLimits.smallFrameBytes);
    expect(methods.maxFrameBytes('app.node', node)).toBe(1024 * 1024);
    expect(methods.maxFrameBytes('app.node', writer)).toBe(ProtocolLimits.smallFrameBytes);
    expect(methods.maxFrameBytes('nope', writer)).toBe(ProtocolLimits.smallFrameBytes);
    expect(methods.maxFrameBytes(undefined, writer)).toBe(ProtocolLimits.smallFrameBytes);
    expect(methods.maxPayloadFor(reader)).toBe(ProtocolLimits.smallFrameBytes);
    expect(methods.maxPayloadFor(writer)).toBe(ProtocolLimits.maxPayloadBytes);
    expect(methods.maxPayloadFor({ role: 'operator', scopes: ['operator.admin'] })).toBe(ProtocolLimits.maxPayloadBytes);
    expect(methods.maxPayloadFor(node)).toBe(1024 * 1024);
  });

  it('refuses a maxFrameBytes outside 64 KiB to 25 MiB', async () => {
    const methods = await registry();
    for (const maxFrameBytes of [1_000, ProtocolLimits.maxPayloadBytes + 1, 1.5 * ProtocolLimits.smallFrameBytes + 0.5]) {
      expect(() => methods.define(`app.bad${maxFrameBytes}`, { scope: 'operator.read', maxFrameBytes, handle: () => ({}) })).toThrow(/maxFrameBytes must be an integer/);
    }
  });
});
