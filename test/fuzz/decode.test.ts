// The frame decoder against the protocol, tens of thousands of cases: every text a peer can send is classified as
// PROTOCOL.md says (test/helpers/frame-oracle.ts works it out independently of the gateway's schemas), and a
// connect with any one field wrong names that field. Pure and fast; test/fuzz/gateway.test.ts sends the
// representative share of these over real sockets.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeTextFrame } from '../../src/protocol/decode.js';
import { envNumber } from '../helpers/chaos.js';
import { CONNECT_FIELDS, anyFrameText, classify, connectWithOneWrongField, validConnectParams } from '../helpers/frame-oracle.js';

const SEED = envNumber('ACTORGATE_FUZZ_SEED', 0x7a11);
const SCALE = envNumber('ACTORGATE_FUZZ_SCALE', 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

function check<T>(name: string, arbitrary: fc.Arbitrary<T>, numRuns: number, predicate: (value: T) => void): void {
  const started = Date.now();
  try {
    fc.assert(fc.property(arbitrary, predicate), { seed: SEED, numRuns });
  } catch (error) {
    console.error(`fuzz ${name} failed (seed ${SEED}, ACTORGATE_FUZZ_SEED=${SEED} to replay)`);
    throw error;
  }
  console.log(`fuzz decode ${name}: ${numRuns} cases (seed ${SEED}) in ${Date.now() - started} ms`);
}

describe('decodeTextFrame (pure, seeded)', () => {
  it('classifies any text as the protocol does, and never throws', () => {
    const kinds = new Map<string, number>();
    check('any text', anyFrameText(), runs(20_000), (text) => {
      const expected = classify(text);
      kinds.set(expected.kind, (kinds.get(expected.kind) ?? 0) + 1);
      const event = decodeTextFrame(text);
      switch (expected.kind) {
        case 'malformed':
          expect(event.type).toBe('frame.malformed');
          expect((event as { id?: string }).id).toBe(expected.id);
          break;
        case 'request':
          expect(event).toMatchObject({ type: 'frame.request', id: expected.id, method: expected.method });
          break;
        case 'connectInvalid':
          expect(event).toMatchObject({ type: 'frame.connectInvalid', id: expected.id });
          break;
        case 'connect':
          expect(event).toMatchObject({ type: 'frame.connect', id: expected.id });
          break;
      }
    });
    // The generator reaches every outcome, so the property is not passing on one kind of input only.
    console.log(`fuzz decode any text: outcomes ${JSON.stringify(Object.fromEntries(kinds))}`);
    for (const kind of ['malformed', 'request', 'connectInvalid', 'connect']) expect(kinds.get(kind) ?? 0, kind).toBeGreaterThan(runs(20_000) / 100);
  });

  it('accepts every valid connect, whatever its optional fields', () => {
    check('valid connect', validConnectParams, runs(5_000), (params) => {
      const event = decodeTextFrame(JSON.stringify({ type: 'req', id: 'c', method: 'connect', params }));
      expect(event.type, JSON.stringify(event)).toBe('frame.connect');
    });
  });

  it('rejects a connect with any one field wrong, naming that field', () => {
    const tried = new Map<string, number>();
    check('one wrong connect field', connectWithOneWrongField, runs(10_000), ({ frame, pointer, id, field }) => {
      tried.set(field, (tried.get(field) ?? 0) + 1);
      const event = decodeTextFrame(JSON.stringify(frame));
      expect(event.type, JSON.stringify(frame.params)).toBe('frame.connectInvalid');
      const message = (event as { message: string }).message;
      expect(message.startsWith('invalid connect params: ')).toBe(true);
      const path = message.slice('invalid connect params: '.length);
      expect(path.startsWith(`${pointer}:`) || path.startsWith(`${pointer}/`), `${path} names ${pointer}`).toBe(true);
      expect((event as { id: string }).id).toBe(id);
    });
    // Every field had its turn, many times.
    for (const { path } of CONNECT_FIELDS) expect(tried.get(path) ?? 0, path).toBeGreaterThanOrEqual(Math.min(100, runs(10_000) / 100));
  });
});
