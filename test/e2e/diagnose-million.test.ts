// `diagnose` over a generated log of a million lines: streamed from disk in seconds, every total right.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { diagnoseFile } from '../../src/observability/diagnose/read.js';
import { NOISY_ADDRESS, SYNTHETIC_HANDSHAKE_TIMEOUT_MS, writeSyntheticLog } from '../../src/observability/diagnose/synthetic-log.js';

const LINES = 1_000_000;
const dir = mkdtempSync(join(tmpdir(), 'actorgate-diagnose-million-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('diagnoses a million-line log with the totals the generator wrote', async () => {
  const file = join(dir, 'gateway.log');
  const expected = writeSyntheticLog(file, LINES);
  expect(statSync(file).size).toBeGreaterThan(200 * 1024 * 1024);

  const started = performance.now();
  const d = await diagnoseFile(file);
  const elapsedMs = performance.now() - started;
  // About a second on an idle machine; the bound only catches a reader or aggregator gone quadratic.
  expect(elapsedMs).toBeLessThan(30_000);

  expect(d.input).toMatchObject({ lines: LINES, records: expected.records, skipped: expected.skipped, corrupt: expected.corrupt, oversized: 0 });
  expect(d.handshakeTimeout).toEqual({ ms: SYNTHETIC_HANDSHAKE_TIMEOUT_MS, source: 'inferred' });
  expect(d.connections).toMatchObject({ opened: expected.opened, ready: expected.ready, closed: expected.closed, openAtEnd: 0 });
  expect(Object.fromEntries(d.connections.byOutcome.map((row) => [row.outcome, row.count]))).toEqual(expected.outcomes);
  expect(d.swiftpmHelpers).toBe(expected.swiftpmHelpers);
  expect(d.handshakeTimeouts).toBe(expected.handshakeTimeouts);
  expect(d.closedBeforeConnect).toEqual(expected.closedBeforeConnect);
  expect(d.durations).toMatchObject({
    under100ms: expected.closedBeforeConnect.under100ms + expected.socketErrors + expected.outcomes['auth-rejected'] + expected.outcomes['protocol-mismatch'],
    upToTimeout: expected.closedBeforeConnect.upToTimeout,
    atTimeout: expected.handshakeTimeouts,
  });
  expect(Object.fromEntries(d.authFailures.map((row) => [row.code, row.count]))).toEqual(expected.authFailures);
  expect(Object.fromEntries(d.deviceFailures.map((row) => [row.code, row.count]))).toEqual(expected.deviceFailures);
  expect(d.lockouts).toBe(expected.lockouts);
  expect(d.upgradeRejections).toEqual(expected.upgradeRejections);
  expect(d.socketErrors).toEqual([{ detail: 'read ECONNRESET', count: expected.socketErrors }]);
  expect(d.gatewayErrors).toEqual([{ msg: 'request handler failed', count: expected.gatewayErrors }]);
  expect(d.topAddresses[0]).toEqual({
    remoteAddr: NOISY_ADDRESS,
    handshakeFailures: expected.noisyAddressFailures,
    rejectedUpgrades: expected.upgradeRejections.total,
    ready: 0,
  });
}, 60_000);
