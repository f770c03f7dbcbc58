import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { negotiateProtocol, truncateCloseReason } from '../../machines/protocol.js';
import { decodeTextFrame } from '../../src/protocol/decode.js';
import { GATEWAY_VERSION } from '../../src/version.js';

describe('close reasons', () => {
  it('keeps short reasons and cuts long ones to 120 bytes on a UTF-8 boundary', () => {
    expect(truncateCloseReason('handshake timeout')).toBe('handshake timeout');
    const ascii = truncateCloseReason('x'.repeat(300));
    expect(new TextEncoder().encode(ascii).length).toBe(120);
    const euro = truncateCloseReason('€'.repeat(100)); // 3 bytes each: 40 fit in 120
    expect(euro).toBe('€'.repeat(40));
    const mixed = truncateCloseReason('a' + '€'.repeat(100)); // 1 + 39*3 = 118, the 40th would end at 121
    expect(mixed).toBe('a' + '€'.repeat(39));
    expect(mixed).not.toContain('\uFFFD');
  });
});

describe('protocol negotiation', () => {
  it('answers with the highest common version or none', () => {
    expect(negotiateProtocol(3, 4)).toBe(4);
    expect(negotiateProtocol(1, 3)).toBe(3);
    expect(negotiateProtocol(4, 10)).toBe(4);
    expect(negotiateProtocol(5, 6)).toBeUndefined();
    expect(negotiateProtocol(1, 2)).toBeUndefined();
  });
});

describe('frame decoding', () => {
  it('classifies every kind of inbound text', () => {
    expect(decodeTextFrame('nope')).toEqual({ type: 'frame.malformed', message: 'malformed JSON' });
    expect(decodeTextFrame('[]')).toMatchObject({ type: 'frame.malformed' });
    expect(decodeTextFrame('{"type":"res","id":"a","ok":true}')).toMatchObject({ type: 'frame.malformed', id: 'a' });
    expect(decodeTextFrame('{"type":"req","id":"a","method":"health"}')).toEqual({
      type: 'frame.request',
      id: 'a',
      method: 'health',
      params: undefined,
    });
    expect(decodeTextFrame('{"type":"req","id":"a","method":"connect","params":{}}')).toMatchObject({
      type: 'frame.connectInvalid',
      id: 'a',
    });
    const badMode = { minProtocol: 3, maxProtocol: 4, client: { id: 'x', version: '1', platform: 'p', mode: 'martian' } };
    const decoded = decodeTextFrame(JSON.stringify({ type: 'req', id: 'b', method: 'connect', params: badMode }));
    expect(decoded).toMatchObject({ type: 'frame.connectInvalid' });
    expect((decoded as { message: string }).message).toContain('/client/mode');
  });
});

describe('version', () => {
  it('matches package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(GATEWAY_VERSION).toBe(pkg.version);
  });
});
