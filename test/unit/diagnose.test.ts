// The diagnosis as a pure function of log records, the line splitter, and the renderers.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DiagnosisBuilder, diagnoseRecords, type LogRecord } from '../../src/observability/diagnose/aggregate.js';
import { forEachLine } from '../../src/observability/diagnose/lines.js';
import { diagnoseStream, readLine } from '../../src/observability/diagnose/read.js';
import { renderJson } from '../../src/observability/diagnose/render-json.js';
import { renderTable } from '../../src/observability/diagnose/render-table.js';

let nextConn = 0;
const base = { level: 40, time: '2026-11-25T10:00:00.000Z', service: 'actorgate' };

function closed(cause: string, fields: Partial<LogRecord> = {}): LogRecord {
  return {
    ...base,
    connId: `c${nextConn++}`,
    remoteAddr: '10.0.0.1',
    durationMs: 5,
    event: 'connection.closed',
    cause,
    code: 1008,
    reason: '',
    msg: 'closed',
    ...fields,
  };
}

function ready(connId: string, remoteAddr = '10.0.0.1'): LogRecord {
  return { ...base, level: 30, connId, remoteAddr, durationMs: 3, event: 'connection.ready', msg: 'handshake complete' };
}

describe('diagnoseRecords', () => {
  it('counts closes by outcome and by code and reason, with SwiftPM helpers apart', () => {
    const d = diagnoseRecords([
      closed('auth-rejected', { reason: 'unauthorized: gateway token mismatch', detail: 'AUTH_TOKEN_MISMATCH' }),
      closed('auth-rejected', { reason: 'unauthorized: gateway token mismatch', detail: 'AUTH_TOKEN_MISMATCH' }),
      closed('auth-rejected', { reason: 'device nonce mismatch', detail: 'DEVICE_AUTH_NONCE_MISMATCH' }),
      closed('helper-closed-before-connect', { code: 1000, remoteAddr: '127.0.0.1' }),
      closed('closed-before-connect', { code: 1006 }),
    ]);
    expect(d.connections.closed).toBe(4);
    expect(d.swiftpmHelpers).toBe(1);
    expect(d.connections.byOutcome).toEqual([
      { outcome: 'auth-rejected', count: 3 },
      { outcome: 'closed-before-connect', count: 1 },
    ]);
    expect(d.closeCodes).toEqual([
      { code: 1008, reason: 'unauthorized: gateway token mismatch', count: 2 },
      { code: 1006, reason: '', count: 1 },
      { code: 1008, reason: 'device nonce mismatch', count: 1 },
    ]);
    expect(d.authFailures).toEqual([{ code: 'AUTH_TOKEN_MISMATCH', reason: 'unauthorized: gateway token mismatch', count: 2 }]);
    expect(d.deviceFailures).toEqual([{ code: 'DEVICE_AUTH_NONCE_MISMATCH', reason: 'device nonce mismatch', count: 1 }]);
  });

  it('buckets only handshake-phase closes: under 100 ms, up to the timeout, at the timeout', () => {
    const d = diagnoseRecords(
      [
        closed('closed-before-connect', { durationMs: 99 }),
        closed('closed-before-connect', { durationMs: 100 }),
        closed('closed-before-connect', { durationMs: 4_999 }),
        closed('handshake-timeout', { durationMs: 5_003 }),
        closed('auth-rejected', { durationMs: 20, detail: 'AUTH_TOKEN_MISSING' }),
        // Ready first: a session's length, not a handshake's.
        ready('s1'),
        closed('socket-error', { connId: 's1', durationMs: 50, detail: 'read ECONNRESET' }),
        // Peer closes only end ready connections, even when the ready line predates the log.
        closed('peer-closed', { durationMs: 30, code: 1000 }),
        // A shutdown at or past the timeout cannot have been in its handshake either.
        closed('shutdown', { durationMs: 60_000, code: 1012 }),
        closed('shutdown', { durationMs: 40, code: 1012 }),
      ],
      { handshakeTimeoutMs: 5_000 },
    );
    expect(d.handshakeTimeout).toEqual({ ms: 5_000, source: 'option' });
    expect(d.durations.byOutcome).toEqual([
      { outcome: 'closed-before-connect', under100ms: 1, upToTimeout: 2, atTimeout: 0 },
      { outcome: 'auth-rejected', under100ms: 1, upToTimeout: 0, atTimeout: 0 },
      { outcome: 'handshake-timeout', under100ms: 0, upToTimeout: 0, atTimeout: 1 },
      { outcome: 'shutdown', under100ms: 1, upToTimeout: 0, atTimeout: 0 },
    ]);
    expect(d.durations).toMatchObject({ under100ms: 3, upToTimeout: 2, atTimeout: 1 });
    expect(d.closedBeforeConnect).toEqual({ total: 3, under100ms: 1, upToTimeout: 2 });
    expect(d.socketErrors).toEqual([{ detail: 'read ECONNRESET', count: 1 }]);
    expect(d.connections).toMatchObject({ ready: 1, openAtEnd: 0 });
    expect(d.findings.find((finding) => finding.id === 'socket-error')?.count).toBe(1);
  });

  it('takes the handshake timeout from the option, else the logs, else the shortest timeout close, else 10 s', () => {
    const timeoutClose = closed('handshake-timeout', { durationMs: 3_001 });
    expect(diagnoseRecords([timeoutClose], { handshakeTimeoutMs: 2_000 }).handshakeTimeout).toEqual({ ms: 2_000, source: 'option' });
    expect(diagnoseRecords([{ ...timeoutClose, handshakeTimeoutMs: 3_000 }]).handshakeTimeout).toEqual({ ms: 3_000, source: 'logged' });
    expect(diagnoseRecords([timeoutClose, closed('handshake-timeout', { durationMs: 3_040 })]).handshakeTimeout).toEqual({
      ms: 3_001,
      source: 'inferred',
    });
    expect(diagnoseRecords([closed('closed-before-connect')]).handshakeTimeout).toEqual({ ms: 10_000, source: 'default' });
    // With the inferred 3001 ms, a close at 3000 ms is a slow handshake.
    const d = diagnoseRecords([timeoutClose, closed('closed-before-connect', { durationMs: 3_000 })]);
    expect(d.closedBeforeConnect.upToTimeout).toBe(1);
  });

  it('counts refused upgrades from logged and suppressed ones, lockouts, errors, and ranks addresses', () => {
    const d = diagnoseRecords([
      { ...base, event: 'upgrade.rejected', remoteAddr: '::ffff:10.0.0.9', count: 32, msg: 'upgrade rejected' },
      { ...base, event: 'upgrade.rejected', remoteAddr: '10.0.0.9', count: 32, suppressed: 4, msg: 'upgrade rejected' },
      { ...base, event: 'upgrade.rejected', remoteAddr: '10.0.0.9', suppressed: 2, msg: 'upgrade rejected (summary)' },
      { ...base, event: 'auth.locked_out', remoteAddr: '10.0.0.2', msg: 'too many failed attempts: address locked out' },
      { ...base, level: 50, msg: 'request handler failed' },
      { ...base, level: 50, msg: 'request handler failed' },
      { ...base, level: 20, err: 'read ECONNRESET', event: 'upgrade.error', msg: 'socket error during upgrade' },
      closed('auth-rejected', { remoteAddr: '10.0.0.2', detail: 'AUTH_TOKEN_MISMATCH' }),
      ready('r1', '10.0.0.2'),
      { ...base, service: 'billing', level: 60, msg: 'not ours' },
    ]);
    expect(d.upgradeRejections).toEqual({ logged: 3, suppressed: 6, total: 8 });
    expect(d.lockouts).toBe(1);
    expect(d.gatewayErrors).toEqual([{ msg: 'request handler failed', count: 2 }]);
    expect(d.topAddresses).toEqual([
      { remoteAddr: '10.0.0.9', handshakeFailures: 0, rejectedUpgrades: 8, ready: 0 },
      { remoteAddr: '10.0.0.2', handshakeFailures: 1, rejectedUpgrades: 0, ready: 1 },
    ]);
    expect(d.input).toMatchObject({ lines: 10, records: 9, skipped: 1 });
    expect(d.socketErrors).toEqual([{ detail: 'read ECONNRESET (logged as upgrade.error)', count: 1 }]);
    expect(d.findings.find((finding) => finding.id === 'socket-error')?.count).toBe(1);
    expect(d.connections.openAtEnd).toBe(1);
    expect(d.findings[0]).toMatchObject({ id: 'gateway-errors', severity: 'error', count: 2 });
  });

  it('counts pairings refused at a limit, and files pairing-limit refusals under device failures with their own advice', () => {
    const d = diagnoseRecords([
      { ...base, level: 40, event: 'pairing.refused', kind: 'node', subject: 'node-9', remoteIp: '10.0.0.5', reason: 'list-full', msg: 'pairing refused' },
      closed('auth-rejected', { detail: 'PAIRING_REQUESTS_LIMITED' }),
      closed('auth-rejected', { detail: 'PAIRING_RATE_LIMITED' }),
    ]);
    expect(d.pairingRefused).toBe(1);
    expect(d.deviceFailures.map((row) => row.code).sort()).toEqual(['PAIRING_RATE_LIMITED', 'PAIRING_REQUESTS_LIMITED']);
    expect(d.findings.find((finding) => finding.id === 'pairing-refused')).toMatchObject({ count: 1, severity: 'warn' });
    expect(d.findings.find((finding) => finding.id === 'auth:PAIRING_REQUESTS_LIMITED')?.advice).toContain('--pairing-max-pending');
  });

  it('counts node commands refused to operators by method and details.code, forged approvals first among warnings', () => {
    const refused = (event: string, detail: string): LogRecord => ({ ...base, connId: 'op-1', role: 'operator', event, detail, msg: 'refused' });
    const d = diagnoseRecords([
      refused('node.invoke.refused', 'APPROVAL_FIELDS_NOT_ALLOWED'),
      refused('node.invoke.refused', 'APPROVAL_FIELDS_NOT_ALLOWED'),
      refused('node.invoke.refused', 'APPROVAL_FIELDS_NOT_ALLOWED'),
      refused('node.invoke.refused', 'COMMAND_DENIED_BY_POLICY'),
      refused('node.pair.refused', 'MISSING_SCOPE'),
    ]);
    expect(d.nodeCommandRefusals).toEqual([
      { method: 'node.invoke', code: 'APPROVAL_FIELDS_NOT_ALLOWED', count: 3 },
      { method: 'node.invoke', code: 'COMMAND_DENIED_BY_POLICY', count: 1 },
      { method: 'node.pair', code: 'MISSING_SCOPE', count: 1 },
    ]);
    expect(d.findings.map((finding) => [finding.id, finding.severity, finding.count])).toEqual([
      ['node.invoke:APPROVAL_FIELDS_NOT_ALLOWED', 'warn', 3],
      ['node.invoke:COMMAND_DENIED_BY_POLICY', 'warn', 1],
      ['node.pair:MISSING_SCOPE', 'warn', 1],
    ]);
    expect(d.findings[0]!.advice).toMatch(/approvalDecision/);
    const text = renderTable(d, 'gateway.log');
    expect(text).toContain('Node commands refused to operators');
    expect(text).toMatch(/node\.invoke\s+APPROVAL_FIELDS_NOT_ALLOWED\s+3/);
  });

  it('counts frames refused before parsing by code, with the refusals each line says were held back', () => {
    const refused = (code: string, suppressed: number): LogRecord => ({ ...base, event: 'frame.refused', connId: 'c1', remoteAddr: '10.0.0.3', code, suppressed, msg: 'frame refused before parsing' });
    const d = diagnoseRecords([refused('FRAME_TOO_COMPLEX', 0), refused('FRAME_TOO_COMPLEX', 41), refused('PARAMS_TOO_DEEP', 0)]);
    expect(d.framesRefused).toEqual([
      { code: 'FRAME_TOO_COMPLEX', count: 43 },
      { code: 'PARAMS_TOO_DEEP', count: 1 },
    ]);
    expect(d.findings.find((finding) => finding.id === 'frame-refused:FRAME_TOO_COMPLEX')).toMatchObject({ severity: 'warn', count: 43 });
    expect(renderTable(d, 'gateway.log')).toContain('frames refused before parsing: 44 (FRAME_TOO_COMPLEX 43, PARAMS_TOO_DEEP 1)');
  });

  it('gives each finding its advice, a generic one for a cause it does not know, and nothing for normal closes', () => {
    const d = diagnoseRecords([
      closed('handshake-timeout', { durationMs: 10_002 }),
      closed('auth-rejected', { detail: 'DEVICE_AUTH_SIGNATURE_EXPIRED' }),
      closed('auth-rejected', { detail: 'DEVICE_AUTH_SOMETHING_NEW' }),
      closed('cosmic-ray', { durationMs: 10 }),
      ready('r2'),
      closed('peer-closed', { connId: 'r2', code: 1006 }),
      closed('peer-closed', { code: 1000 }),
      closed('shutdown', { code: 1012 }),
    ]);
    const byId = Object.fromEntries(d.findings.map((finding) => [finding.id, finding]));
    expect(Object.keys(byId).sort()).toEqual([
      'auth:DEVICE_AUTH_SIGNATURE_EXPIRED',
      'auth:DEVICE_AUTH_SOMETHING_NEW',
      'cosmic-ray',
      'dropped-after-ready',
      'handshake-timeout',
    ]);
    expect(byId['handshake-timeout']!.advice).toContain('10002 ms');
    expect(byId['auth:DEVICE_AUTH_SIGNATURE_EXPIRED']!.advice).toMatch(/clock/);
    expect(byId['auth:DEVICE_AUTH_SOMETHING_NEW']!.advice).toMatch(/device identity/);
    expect(byId['cosmic-ray']!.summary).toBe('closes with cause cosmic-ray');
    expect(d.deviceFailures.map((row) => row.code)).toEqual(['DEVICE_AUTH_SIGNATURE_EXPIRED', 'DEVICE_AUTH_SOMETHING_NEW']);
  });
});

describe('the fields the gateway logs for diagnosis', () => {
  it('counts helper lines of their own event apart, reads ready from the close line, and the timeout from gateway.listening', () => {
    const d = diagnoseRecords([
      { ...base, level: 30, event: 'gateway.listening', handshakeTimeoutMs: 3_000, msg: 'gateway listening' },
      { ...base, level: 30, connId: 'h1', remoteAddr: '127.0.0.1', durationMs: 2, event: 'connection.helper_closed', cause: 'helper-closed-before-connect', code: 1005, reason: '', ready: false, msg: 'closed before connect (swiftpm helper)' },
      // No ready line in the log (it predates it): the close says it was ready, so it is a drop, not a handshake failure.
      closed('socket-error', { code: 1006, reason: '', detail: 'read ECONNRESET', ready: true, durationMs: 40 }),
      closed('socket-error', { code: 1006, reason: '', detail: 'read ECONNRESET', ready: false, durationMs: 2_500 }),
      closed('socket-error', { code: 1007, reason: '', detail: 'Invalid UTF-8 sequence', ready: false, durationMs: 30 }),
    ]);
    expect(d.handshakeTimeout).toEqual({ ms: 3_000, source: 'logged' });
    expect(d.swiftpmHelpers).toBe(1);
    expect(d.connections).toMatchObject({ closed: 3, droppedAfterReady: 1 });
    expect(d.socketErrors).toEqual([
      { detail: 'read ECONNRESET', count: 2 },
      { detail: 'Invalid UTF-8 sequence', count: 1 },
    ]);
    const { byOutcome: _rows, ...buckets } = d.durations;
    expect(buckets).toEqual({ under100ms: 1, upToTimeout: 1, atTimeout: 0 });
    expect(d.closeCodes).toEqual(expect.arrayContaining([{ code: 1006, reason: '', count: 2 }, { code: 1007, reason: '', count: 1 }]));
  });
});

describe('forEachLine', () => {
  async function split(chunks: (string | Buffer)[], max?: number) {
    const lines: string[] = [];
    const stats = await forEachLine(Readable.from(chunks), (line) => lines.push(line), max);
    return { lines, stats };
  }

  it('joins lines cut across chunks, multi-byte characters included, and drops CR before LF', async () => {
    const text = Buffer.from('première\r\nligne ☃ deux\nlast without newline');
    const chunks = [text.subarray(0, 4), text.subarray(4, 17), text.subarray(17, 18), text.subarray(18)];
    expect(await split(chunks)).toEqual({
      lines: ['première', 'ligne ☃ deux', 'last without newline'],
      stats: { lines: 3, oversized: 0 },
    });
  });

  it('skips lines over the limit, whether they end in the chunk or run on across chunks', async () => {
    const { lines, stats } = await split(['ok\n' + 'x'.repeat(12) + '\nshort\n' + 'y'.repeat(8), 'y'.repeat(8) + '\nend'], 10);
    expect(lines).toEqual(['ok', 'short', 'end']);
    expect(stats).toEqual({ lines: 3, oversized: 2 });
  });
});

describe('reading lines', () => {
  it('counts the debug "connection opened" line without parsing it, as parsing would', () => {
    const opened = JSON.stringify({ ...base, level: 20, connId: 'c', remoteAddr: '127.0.0.1', event: 'connection.opened', msg: 'connection opened' });
    const shortcut = new DiagnosisBuilder();
    readLine(opened, shortcut);
    const parsed = new DiagnosisBuilder();
    parsed.add(JSON.parse(opened) as LogRecord);
    const { input: _a, ...viaShortcut } = shortcut.finish();
    const { input: _b, ...viaParse } = parsed.finish();
    expect(viaShortcut).toEqual(viaParse);
    expect(viaShortcut.connections.opened).toBe(1);
  });

  it('tells skipped lines from corrupt actorgate lines', async () => {
    const d = await diagnoseStream(
      Readable.from([
        'starting actorgate...\n',
        '\n',
        '{"service":"other","msg":"about actorgate"}\n',
        '["actorgate"]\n',
        '{"service":"actorgate","level":40,"event":"connection.closed","cause":"closed-before-co\n',
        JSON.stringify(closed('closed-before-connect')) + '\n',
      ]),
    );
    expect(d.input).toMatchObject({ lines: 6, records: 1, skipped: 4, corrupt: 1, oversized: 0 });
    expect(d.findings.map((finding) => finding.id)).toEqual(['closed-before-connect-fast', 'corrupt-lines']);
  });
});

describe('renderers', () => {
  it('prints an empty log as tables with nothing to report, and JSON that parses back', () => {
    const d = diagnoseRecords([]);
    const table = renderTable(d, 'empty.log');
    expect(table).toContain('actorgate diagnose empty.log: 0 lines, 0 from actorgate (0 skipped)');
    expect(table).toContain('handshake timeout: 10000 ms (the default');
    expect(table).toMatch(/Findings:\n {2}nothing to report\n$/);
    expect(JSON.parse(renderJson(d, 'empty.log'))).toEqual({ source: 'empty.log', ...d });
  });

  it('aligns counts to the right under their header', () => {
    const table = renderTable(
      diagnoseRecords([...Array.from({ length: 1234 }, () => closed('closed-before-connect')), closed('handshake-timeout', { durationMs: 10_000 })]),
      'x.log',
    );
    expect(table).toMatch(/\n {2}outcome {16}count\n {2}closed-before-connect {2}1,234\n {2}handshake-timeout {10}1\n/);
  });
});
