// `actorgate diagnose` over the logs of real gateways: every failure kind of the troubleshooting guide is
// produced through real sockets on 127.0.0.1 (other loopback source addresses stand for other clients),
// the captured log is written to a file, and the diagnosis is checked, in process and through the CLI.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectParams, DeviceProofParams } from '../../machines/protocol.js';
import { diagnoseRecords } from '../../src/observability/diagnose/aggregate.js';
import type { Diagnosis } from '../../src/observability/diagnose/diagnosis.js';
import { diagnoseFile } from '../../src/observability/diagnose/read.js';
import type { Gateway } from '../../src/gateway/create-gateway.js';
import type { GatewayOptions } from '../../src/config/options.js';
import { createLogger } from '../../src/observability/logger.js';
import { TestClient, connectClient, connectParams } from '../helpers/client.js';
import { createDevice, signDevice } from '../helpers/device.js';
import { LogCapture, TEST_TOKEN, startGateway, type LogLine } from '../helpers/gateway.js';
import { upgradeStatus } from '../helpers/hardened.js';

const run = promisify(execFile);
const bin = new URL('../../bin/actorgate.js', import.meta.url).pathname;
const HANDSHAKE_TIMEOUT_MS = 2_000;
const PASSWORD = 'test-password-456';
/** Stand-ins for other clients: every 127.0.0.0/8 address reaches a gateway on 127.0.0.1. */
const LOCKED_OUT_CLIENT = '127.0.0.5';
const CROWDED_CLIENT = '127.0.0.6';
const JUNK_LINES = ['plain text from a process manager', '', '{"level":50,"service":"billing","msg":"other service"}', '{"level":40,"service":"actorgate","msg":"cut sho'];

/** Keeps the raw text the gateways write, as a log file would, besides the parsed lines. */
class RawLogCapture extends LogCapture {
  text = '';
  override _write(chunk: Buffer, encoding: string, callback: () => void): void {
    this.text += chunk.toString();
    super._write(chunk, encoding, callback);
  }
}

const logs = new RawLogCapture();
const dir = mkdtempSync(join(tmpdir(), 'actorgate-diagnose-'));
const logFile = join(dir, 'gateway.log');

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const closedLines = () => logs.lines.filter((line) => line.event === 'connection.closed' || line.event === 'connection.helper_closed');
/** Connections ended by a TCP reset (the deliberate one, and any a terminated client caused), in and after the handshake. */
const resetLines = (ready: boolean) => logs.lines.filter((line) => line.cause === 'socket-error' && line.code === 1006 && line.ready === ready);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function start(auth: Pick<GatewayOptions, 'auth' | 'token' | 'password'>): Promise<Gateway> {
  return startGateway({
    host: '127.0.0.1',
    port: 0,
    ...auth,
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    tickIntervalMs: 30_000,
    logger: createLogger('debug', logs),
    maxPreauthPerAddress: 3,
    authRateLimitLoopback: true,
    // The page that asks to be paired is an allowed one: a browser page is never paired silently.
    allowedOrigins: ['https://app.example.com'],
  });
}

/** A socket from `localAddress` that sends `params` as its connect once challenged; resolves with its close. */
function connectFrom(url: string, localAddress: string, params: ConnectParams): Promise<{ code: number; error: unknown }> {
  const ws = new WebSocket(url, { localAddress });
  let error: unknown;
  ws.on('error', () => {});
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as { type: string; event?: string; error?: unknown };
    if (frame.event === 'connect.challenge') ws.send(JSON.stringify({ type: 'req', id: 'c1', method: 'connect', params }));
    if (frame.type === 'res') error = frame.error;
  });
  return new Promise((resolve) => ws.on('close', (code) => resolve({ code, error })));
}

/** A socket from `localAddress` left in its handshake: resolves once challenged. */
function pendingFrom(url: string, localAddress: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { localAddress });
  ws.on('error', () => {});
  return new Promise((resolve) => ws.once('message', () => resolve(ws)));
}

/** A connect with a device proof, altered by `tamper`, from a client that may send a browser Origin. */
async function connectWithDevice(url: string, tamper: (proof: DeviceProofParams) => DeviceProofParams, headers: Record<string, string> = {}) {
  const client = await TestClient.open(url, headers);
  const nonce = await client.challengeNonce();
  const params = connectParams({ auth: { token: TEST_TOKEN } });
  params.device = tamper(signDevice(createDevice(), params, nonce));
  const response = await client.request('connect', params);
  expect(response.ok).toBe(false);
  return client.closed;
}

/** Every kind of connection the guide names, against a token gateway, then two password failures against a second one. */
async function produceEveryFailure(): Promise<void> {
  const gateway = await start({ auth: 'token', token: TEST_TOKEN });
  const url = gateway.url;
  let expectedCloses = 0;

  // Left silent: the handshake timeout fires while the rest runs.
  const silent = await TestClient.open(url);
  expectedCloses++;

  // Three clients that connect and close normally, one dropped without a close frame, one kept to the shutdown.
  for (let i = 0; i < 3; i++) {
    const { client } = await connectClient(url, TEST_TOKEN);
    await client.close(1000);
  }
  (await connectClient(url, TEST_TOKEN)).client.ws.terminate();
  const keptOpen = (await connectClient(url, TEST_TOKEN)).client;
  expectedCloses += 4 + 1;

  // Closes before connect: one at once (no close frame), one after a while (a client giving up).
  const fast = await TestClient.open(url);
  fast.ws.terminate();
  const slow = await TestClient.open(url);
  await slow.challenge();
  await sleep(400);
  await slow.close(1000);
  expectedCloses += 2;

  // A SwiftPM test helper from loopback: opened and closed at once, counted apart.
  const helper = await TestClient.open(url, { 'user-agent': 'swiftpm-testing-helper/1.0 (swift-package-manager)' });
  await helper.close(1000);
  expectedCloses++;

  // A TCP reset in the handshake: the connection ends as a socket error (1006), with its connId.
  const reset = await TestClient.open(url);
  await reset.challenge();
  (reset.ws as unknown as { _socket: { resetAndDestroy(): void } })._socket.resetAndDestroy();
  await reset.closed;
  expectedCloses++;

  // Socket errors: invalid UTF-8 in a text frame, once in the handshake and once after it.
  const brokenEarly = await TestClient.open(url);
  await brokenEarly.challenge();
  brokenEarly.ws.send(Buffer.from([0xc3, 0x28]), { binary: false });
  await brokenEarly.closed;
  const brokenLate = (await connectClient(url, TEST_TOKEN)).client;
  brokenLate.ws.send(Buffer.from([0xc3, 0x28]), { binary: false });
  await brokenLate.closed;
  expectedCloses += 2;

  // Handshake refusals of the protocol: version, frame shape, first request, params, size.
  const refusals: ((client: TestClient) => void)[] = [
    (client) => void client.request('connect', connectParams({ auth: { token: TEST_TOKEN }, minProtocol: 9, maxProtocol: 9 })),
    (client) => client.send('{not json'),
    (client) => void client.request('health'),
    (client) => void client.request('connect', { ...connectParams({ auth: { token: TEST_TOKEN } }), unexpected: true }),
    (client) => client.send({ type: 'req', id: 'big', method: 'connect', params: { padding: 'x'.repeat(65 * 1024) } }),
  ];
  for (const refuse of refusals) {
    const client = await TestClient.open(url);
    await client.challenge();
    refuse(client);
    await client.closed;
  }
  expectedCloses += refusals.length;

  // Wrong and missing token.
  for (const auth of [{ token: 'wrong-token' }, undefined]) {
    const client = await TestClient.open(url);
    await client.challenge();
    await client.request('connect', connectParams(auth ? { auth } : {}));
    await client.closed;
  }
  expectedCloses += 2;

  // Device failures: each check of the proof, and a browser client that must be paired.
  const otherDevice = createDevice();
  const tamperings: ((proof: DeviceProofParams) => DeviceProofParams)[] = [
    (proof) => ({ ...proof, signature: proof.signature.slice(0, -4) + (proof.signature.endsWith('AAAA') ? 'BBBB' : 'AAAA') }),
    (proof) => ({ ...proof, nonce: 'a-nonce-of-another-socket' }),
    (proof) => ({ ...proof, signedAt: proof.signedAt - 10 * 60_000 }),
    (proof) => ({ ...proof, id: otherDevice.id }),
  ];
  for (const tamper of tamperings) await connectWithDevice(url, tamper);
  await connectWithDevice(url, (proof) => proof, { origin: 'https://app.example.com' });
  expectedCloses += tamperings.length + 1;

  // Another client guesses the token ten times, is locked out, and is refused once more.
  for (let i = 0; i < 10; i++) await connectFrom(url, LOCKED_OUT_CLIENT, connectParams({ auth: { token: `guess-${i}` } }));
  const refused = await connectFrom(url, LOCKED_OUT_CLIENT, connectParams({ auth: { token: TEST_TOKEN } }));
  expect(refused.error).toMatchObject({ details: { code: 'AUTH_RATE_LIMITED' } });
  expectedCloses += 11;

  // A crowded client: three sockets in their handshake, the fourth upgrade gets HTTP 503.
  const crowd = await Promise.all([1, 2, 3].map(() => pendingFrom(url, CROWDED_CLIENT)));
  expect(await upgradeStatus(url, {}, CROWDED_CLIENT)).toBe(503);
  for (const ws of crowd) ws.close(1001);
  expectedCloses += 3;

  expect((await silent.closed).code).toBe(1008);
  await until(() => closedLines().length === expectedCloses - 1, 'every close but the shutdown');
  await gateway.close('test finished');
  expect((await keptOpen.closed).code).toBe(1012);
  await until(() => closedLines().length === expectedCloses, 'the shutdown');

  const passwordGateway = await start({ auth: 'password', password: PASSWORD });
  for (const auth of [{ password: 'wrong-password' }, undefined]) {
    const client = await TestClient.open(passwordGateway.url);
    await client.challenge();
    await client.request('connect', connectParams(auth ? { auth } : {}));
    await client.closed;
  }
  await until(() => closedLines().length === expectedCloses + 2, 'the password failures');
  await passwordGateway.close('test finished');
}

let fromRecords: Diagnosis;
let fromFile: Diagnosis;

beforeAll(async () => {
  await produceEveryFailure();
  writeFileSync(logFile, [...JUNK_LINES.slice(0, 2), logs.text.trimEnd(), ...JUNK_LINES.slice(2)].join('\n') + '\n');
  fromRecords = diagnoseRecords(logs.lines);
  fromFile = await diagnoseFile(logFile);
}, 90_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the gateways logged, read plainly, to check the diagnosis's duration buckets against. */
function loggedHandshakeDurations(lines: LogLine[]) {
  const ready = new Set(lines.filter((line) => line.event === 'connection.ready').map((line) => line.connId));
  const handshake = lines.filter(
    (line) => line.event === 'connection.closed' && line.cause !== 'helper-closed-before-connect' && !ready.has(line.connId),
  );
  const timeouts = handshake.filter((line) => line.cause === 'handshake-timeout');
  const others = handshake.filter((line) => line.cause !== 'handshake-timeout').map((line) => line as LogLine & { durationMs: number; cause: string });
  return {
    total: handshake.length,
    timeoutMs: Math.min(...timeouts.map((line) => line.durationMs as number)),
    under100ms: others.filter((line) => line.durationMs < 100).length,
    upToTimeout: others.filter((line) => line.durationMs >= 100).length,
    beforeConnect: others.filter((line) => line.cause === 'closed-before-connect'),
  };
}

describe('actorgate diagnose on real gateway logs', () => {
  it('counts connections by outcome, the SwiftPM helper apart', () => {
    expect(fromRecords.connections).toMatchObject({ opened: 40, ready: 6, closed: 39, openAtEnd: 0, droppedAfterReady: 1 });
    expect(fromRecords.swiftpmHelpers).toBe(1);
    // The helper is logged at info, with an event of its own: counted at the default level too.
    expect(logs.lines.filter((line) => line.event === 'connection.helper_closed')).toEqual([expect.objectContaining({ level: 30, ready: false })]);
    // A terminated client's socket may be reset too (unread data): such a close is a socket error, not a peer's close.
    const [earlyResets, lateResets] = [resetLines(false).length, resetLines(true).length];
    expect(earlyResets).toBeGreaterThanOrEqual(1);
    expect(Object.fromEntries(fromRecords.connections.byOutcome.map((row) => [row.outcome, row.count]))).toEqual({
      'auth-rejected': 20,
      'closed-before-connect': 6 - earlyResets,
      'peer-closed': 4 - lateResets,
      'socket-error': 2 + earlyResets + lateResets,
      'handshake-timeout': 1,
      shutdown: 1,
      'protocol-mismatch': 1,
      'malformed-frame': 1,
      'connect-required': 1,
      'invalid-connect': 1,
      'frame-too-large': 1,
    });
  });

  it('counts close codes with their reasons', () => {
    const codes = fromRecords.closeCodes.map((row) => `${row.code} ${row.reason} x${row.count}`);
    expect(codes.slice(0, 2)).toEqual(['1008 unauthorized: gateway token mismatch x11', '1000  x4']);
    expect(codes).toEqual(
      expect.arrayContaining([
        '1006  x3',
        '1001  x3',
        '1007  x2',
        '1012 gateway shutting down x1',
        '1008 handshake timeout x1',
        '1002 protocol mismatch x1',
        '1002 malformed frame x1',
        '1008 connect required x1',
        '1002 invalid connect params x1',
        '1009  x1',
        '1008 too many failed attempts x1',
        '1008 unauthorized: gateway password missing x1',
        '1008 pairing required x1',
      ]),
    );
    expect(fromRecords.closeCodes.reduce((sum, row) => sum + row.count, 0)).toBe(39);
  });

  it('buckets the handshake-phase closes by duration against the handshake timeout the gateway logged', () => {
    const logged = loggedHandshakeDurations(logs.lines);
    // The timeout line and gateway.listening carry the setting: no --handshake-timeout-ms needed.
    expect(logs.lines.find((line) => line.cause === 'handshake-timeout')).toMatchObject({ handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS });
    expect(logs.lines.find((line) => line.event === 'gateway.listening')).toMatchObject({ handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS });
    expect(fromRecords.handshakeTimeout).toEqual({ ms: HANDSHAKE_TIMEOUT_MS, source: 'logged' });
    expect(logged.timeoutMs).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS);
    expect(logged.total).toBe(33);
    const { byOutcome: _rows, ...totals } = fromRecords.durations;
    expect(totals).toEqual({ under100ms: logged.under100ms, upToTimeout: logged.upToTimeout, atTimeout: 1 });
    expect(fromRecords.handshakeTimeouts).toBe(1);
    // The client that waited 400 ms before hanging up is a slow close, whatever the load.
    const beforeConnect = 6 - resetLines(false).length;
    expect(fromRecords.closedBeforeConnect.total).toBe(beforeConnect);
    expect(fromRecords.closedBeforeConnect.upToTimeout).toBeGreaterThanOrEqual(1);
    expect(fromRecords.closedBeforeConnect).toEqual({
      total: beforeConnect,
      under100ms: logged.beforeConnect.filter((line) => line.durationMs < 100).length,
      upToTimeout: logged.beforeConnect.filter((line) => line.durationMs >= 100).length,
    });
  });

  it('lists auth and device failures by reason, the lockout, the 503 and the socket errors', () => {
    const byCode = (rows: Diagnosis['authFailures']) => Object.fromEntries(rows.map((row) => [row.code, row.count]));
    expect(byCode(fromRecords.authFailures)).toEqual({
      AUTH_TOKEN_MISMATCH: 11,
      AUTH_TOKEN_MISSING: 1,
      AUTH_RATE_LIMITED: 1,
      AUTH_PASSWORD_MISMATCH: 1,
      AUTH_PASSWORD_MISSING: 1,
    });
    expect(byCode(fromRecords.deviceFailures)).toEqual({
      DEVICE_AUTH_SIGNATURE_INVALID: 1,
      DEVICE_AUTH_NONCE_MISMATCH: 1,
      DEVICE_AUTH_SIGNATURE_EXPIRED: 1,
      DEVICE_AUTH_DEVICE_ID_MISMATCH: 1,
      PAIRING_REQUIRED: 1,
    });
    expect(fromRecords.deviceFailures.find((row) => row.code === 'PAIRING_REQUIRED')?.reason).toBe('pairing required');
    expect(fromRecords.lockouts).toBe(1);
    expect(fromRecords.upgradeRejections).toEqual({ logged: 1, suppressed: 0, total: 1 });
    // The deliberate reset, and any a terminated client's socket caused, end their connections as socket errors
    // with a connId; only sockets that never became connections (a refused upgrade) are logged as upgrade.error.
    const resets = [...resetLines(false), ...resetLines(true)];
    for (const line of resets) expect(line).toMatchObject({ connId: expect.any(String), remoteAddr: expect.any(String), level: 40 });
    const unconnected = logs.lines.filter((line) => line.event === 'upgrade.error');
    expect(fromRecords.socketErrors).toEqual(
      expect.arrayContaining([
        { detail: expect.stringMatching(/utf-?8/i), count: 2 },
        { detail: 'read ECONNRESET', count: resets.filter((line) => line.detail === 'read ECONNRESET').length },
      ]),
    );
    expect(fromRecords.socketErrors.reduce((sum, row) => sum + row.count, 0)).toBe(2 + resets.length + unconnected.length);
    expect(fromRecords.gatewayErrors).toEqual([]);
  });

  it('ranks the remote addresses by failed handshakes and refused upgrades', () => {
    expect(fromRecords.topAddresses).toEqual([
      { remoteAddr: '127.0.0.1', handshakeFailures: 19, rejectedUpgrades: 0, ready: 6 },
      { remoteAddr: LOCKED_OUT_CLIENT, handshakeFailures: 11, rejectedUpgrades: 0, ready: 0 },
      { remoteAddr: CROWDED_CLIENT, handshakeFailures: 3, rejectedUpgrades: 1, ready: 0 },
    ]);
  });

  it('gives one finding with advice per kind of failure', () => {
    const findings = Object.fromEntries(fromRecords.findings.map((finding) => [finding.id, finding.count]));
    const logged = loggedHandshakeDurations(logs.lines);
    const fastBeforeConnect = logged.beforeConnect.filter((line) => line.durationMs < 100).length;
    const resets = resetLines(false).length + resetLines(true).length + logs.lines.filter((line) => line.event === 'upgrade.error').length;
    expect(findings).toEqual({
      'handshake-timeout': 1,
      'socket-error': 2 + resets,
      ...(fastBeforeConnect > 0 ? { 'closed-before-connect-fast': fastBeforeConnect } : {}),
      'closed-before-connect-slow': logged.beforeConnect.length - fastBeforeConnect,
      'auth:AUTH_TOKEN_MISMATCH': 11,
      'auth:AUTH_TOKEN_MISSING': 1,
      'auth:AUTH_RATE_LIMITED': 1,
      'auth:AUTH_PASSWORD_MISMATCH': 1,
      'auth:AUTH_PASSWORD_MISSING': 1,
      'auth:DEVICE_AUTH_SIGNATURE_INVALID': 1,
      'auth:DEVICE_AUTH_NONCE_MISMATCH': 1,
      'auth:DEVICE_AUTH_SIGNATURE_EXPIRED': 1,
      'auth:DEVICE_AUTH_DEVICE_ID_MISMATCH': 1,
      'auth:PAIRING_REQUIRED': 1,
      'auth-locked-out': 1,
      'upgrade-rejected': 1,
      'protocol-mismatch': 1,
      'malformed-frame': 1,
      'connect-required': 1,
      'invalid-connect': 1,
      'frame-too-large': 1,
      'dropped-after-ready': 1,
      'swiftpm-helpers': 1,
    });
    for (const finding of fromRecords.findings) expect(finding.advice.length).toBeGreaterThan(20);
    expect(fromRecords.findings.at(-1)).toMatchObject({ id: 'swiftpm-helpers', severity: 'info' });
  });

  it('reads the log file as a stream, skipping blank, non-JSON and other services\' lines, and counting a cut line', () => {
    const { input, findings, ...rest } = fromFile;
    const { input: recordsInput, findings: recordFindings, ...recordsRest } = fromRecords;
    expect(rest).toEqual(recordsRest);
    expect(findings.filter((finding) => finding.id !== 'corrupt-lines')).toEqual(recordFindings);
    expect(findings.find((finding) => finding.id === 'corrupt-lines')).toMatchObject({ severity: 'warn', count: 1 });
    expect(input).toEqual({ ...recordsInput, lines: logs.lines.length + JUNK_LINES.length, skipped: 3, corrupt: 1 });
    expect(input.records).toBe(logs.lines.length);
  });
});

describe('the actorgate diagnose command', () => {
  it('prints the same diagnosis as JSON, from the file and from stdin', async () => {
    const fromCli = await run(process.execPath, [bin, 'diagnose', logFile, '--json']);
    expect(JSON.parse(fromCli.stdout)).toEqual({ source: logFile, ...fromFile });

    const child = execFile(process.execPath, [bin, 'diagnose', '-', '--json']);
    let stdout = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stdin!.end([...JUNK_LINES.slice(0, 2), logs.text.trimEnd(), ...JUNK_LINES.slice(2)].join('\n') + '\n');
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ source: 'stdin', ...fromFile });
  });

  it('prints tables with the findings and their advice on a terminal', async () => {
    const { stdout } = await run(process.execPath, [bin, 'diagnose', logFile]);
    expect(stdout).toContain(`actorgate diagnose ${logFile}: ${logs.lines.length + JUNK_LINES.length} lines, ${logs.lines.length} from actorgate (3 skipped, 1 corrupt)`);
    expect(stdout).toContain(`handshake timeouts: 1; closed before connect: ${6 - resetLines(false).length} `);
    expect(stdout).toMatch(/AUTH_TOKEN_MISMATCH\s+11\s+unauthorized: gateway token mismatch/);
    expect(stdout).toMatch(/127\.0\.0\.5\s+11\s+0\s+0/);
    expect(stdout).toMatch(/WARN\s+11\s+connects refused: AUTH_TOKEN_MISMATCH/);
    expect(stdout).toContain('-> Clients send a gateway token that does not match');
    expect(stdout).toMatch(/INFO\s+1\s+SwiftPM helper connections/);
  });

  it('exits 1 on an unreadable file, 2 on a usage error, 3 with --fail-on and a finding at that level', async () => {
    const missing = await run(process.execPath, [bin, 'diagnose', join(dir, 'missing.log')]).catch((error: { code: number; stderr: string }) => error);
    expect(missing).toMatchObject({ code: 1, stderr: expect.stringContaining('cannot read') });
    const usage = await run(process.execPath, [bin, 'diagnose']).catch((error: { code: number; stderr: string }) => error);
    expect(usage).toMatchObject({ code: 2, stderr: expect.stringContaining('diagnose needs a log file') });
    const badOption = await run(process.execPath, [bin, 'diagnose', logFile, '--handshake-timeout-ms', 'soon']).catch((error: { code: number }) => error);
    expect(badOption).toMatchObject({ code: 2 });
    const failing = await run(process.execPath, [bin, 'diagnose', logFile, '--fail-on', 'warn']).catch((error: { code: number }) => error);
    expect(failing).toMatchObject({ code: 3 });
    // No error-level line in these logs: --fail-on error passes.
    const passing = await run(process.execPath, [bin, 'diagnose', logFile, '--fail-on', 'error', '--json']);
    expect(JSON.parse(passing.stdout).findings.length).toBeGreaterThan(0);
  });
});
