// `actorgate probe`: one connection attempt with the client library in single-attempt mode, timed
// phase by phase, and on failure the close and its likely root cause.
import type { ErrorShape } from '../../../machines/protocol.js';
import { CLIENT_VERSION, createGatewayClient, loadOrCreateDeviceKey, type ClientNotice, type DeviceIdentity } from '../../client/node.js';
import type { WebSocketConstructor } from '../../client/socket.js';
import { PROBE_USAGE, ProbeUsageError, parseProbeArgs, type ProbeArgs } from './args.js';
import { diagnose, type Diagnosis } from './diagnosis.js';

export interface ProbeIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** The WebSocket to dial with; `ws` when absent. */
  WebSocket?: WebSocketConstructor;
}

export interface ProbeReport {
  ok: boolean;
  url: string;
  timeoutMs: number;
  /** Each phase's own duration in ms; absent when the probe never got there. */
  phases: { tcpUpgradeMs?: number; challengeMs?: number; helloOkMs?: number; totalMs: number };
  protocol?: number;
  server?: { version?: string; connId?: string };
  close?: { code: number; reason: string; by: 'server' | 'client' };
  error?: ErrorShape;
  /** What the socket reported, e.g. `connect ECONNREFUSED 127.0.0.1:9`. */
  socketError?: string;
  diagnosis?: Diagnosis;
  device?: { deviceId: string; file: string; created: boolean };
}

export const PROBE_EXIT = { connected: 0, failed: 1, usage: 2 } as const;

export async function runProbe(argv: readonly string[], io: ProbeIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(PROBE_USAGE);
    return PROBE_EXIT.connected;
  }
  let args: ProbeArgs;
  let device: { identity: DeviceIdentity; created: boolean } | undefined;
  try {
    args = parseProbeArgs(argv);
    device = args.deviceKey === undefined ? undefined : loadOrCreateDeviceKey(args.deviceKey);
  } catch (error) {
    const usage = error instanceof ProbeUsageError;
    io.stderr.write(`actorgate probe: ${(error as Error).message}\n${usage ? `\n${PROBE_USAGE}` : ''}`);
    return PROBE_EXIT.usage;
  }
  const report = await probe(args, device?.identity, io.WebSocket);
  if (device && args.deviceKey) report.device = { deviceId: device.identity.deviceId, file: args.deviceKey, created: device.created };
  io.stdout.write(args.json ? `${JSON.stringify(report)}\n` : renderText(report));
  return report.ok ? PROBE_EXIT.connected : PROBE_EXIT.failed;
}

/** Connects once and reports; never throws for a failed connection. */
export async function probe(args: ProbeArgs, device?: DeviceIdentity, WebSocket?: WebSocketConstructor): Promise<ProbeReport> {
  const startedAt = performance.now();
  const auth = args.token !== undefined ? { token: args.token } : args.password !== undefined ? { password: args.password } : undefined;
  const client = createGatewayClient({
    url: args.url,
    ...(WebSocket ? { WebSocket } : {}),
    ...(auth ? { auth } : {}),
    ...(device ? { device } : {}),
    client: { id: 'openclaw-probe', displayName: 'actorgate probe', version: CLIENT_VERSION, mode: 'probe' },
    scopes: ['operator.read'],
    maxAttempts: 1,
    handshakeTimeoutMs: args.timeoutMs,
  });
  const seen: Partial<Record<ClientNotice['type'], ClientNotice>> = {};
  client.events$.subscribe((notice) => {
    seen[notice.type] ??= notice;
    // Connected, or asked for other credentials (4001): either way this probe is done.
    if (notice.type === 'connected' || notice.type === 'credentials.required') void client.close();
  });
  const stop = await client.stopped;

  const at = (type: ClientNotice['type']) => seen[type]?.at;
  const since = (type: ClientNotice['type'], from: number | undefined) => {
    const end = at(type);
    return end === undefined || from === undefined ? undefined : round(end - from);
  };
  const connected = seen.connected?.type === 'connected' ? seen.connected : undefined;
  const closed = seen.disconnected?.type === 'disconnected' ? seen.disconnected : undefined;
  const endedAt = connected?.at ?? closed?.at ?? at('stopped') ?? performance.now();
  const report: ProbeReport = {
    ok: connected !== undefined,
    url: args.url,
    timeoutMs: args.timeoutMs,
    phases: {
      ...optional('tcpUpgradeMs', since('open', startedAt)),
      ...optional('challengeMs', since('challenge', at('open'))),
      ...optional('helloOkMs', since('connected', at('challenge'))),
      totalMs: round(endedAt - startedAt),
    },
  };
  if (connected) {
    const server = client.hello?.server as { version?: string; connId?: string } | undefined;
    report.protocol = connected.hello.protocol;
    report.server = { ...optional('version', server?.version), ...optional('connId', server?.connId) };
    return report;
  }
  if (closed) report.close = { code: closed.code, reason: closed.reason, by: closed.by };
  if (stop.error) report.error = stop.error;
  if (seen['socket.error']?.type === 'socket.error') report.socketError = seen['socket.error'].message;
  report.diagnosis = diagnose({
    ...optional('code', closed?.code ?? stop.code),
    reason: closed?.reason ?? stop.closeReason ?? '',
    ...optional('error', stop.error),
    durationMs: endedAt - startedAt,
    timeoutMs: args.timeoutMs,
    timedOut: closed?.by === 'client' && closed.reason === 'handshake timeout',
    opened: at('open') !== undefined,
    ...optional('socketError', report.socketError),
  });
  return report;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

export function renderText(report: ProbeReport): string {
  const ms = (value: number | undefined) => (value === undefined ? '-' : `${value} ms`);
  const lines = [
    `actorgate probe ${report.url}`,
    `  tcp+upgrade   ${ms(report.phases.tcpUpgradeMs)}`,
    `  challenge     ${ms(report.phases.challengeMs)}`,
    `  hello-ok      ${ms(report.phases.helloOkMs)}`,
    `  total         ${ms(report.phases.totalMs)}`,
  ];
  if (report.device) lines.push(`  device        ${report.device.deviceId}${report.device.created ? ` (key created in ${report.device.file})` : ''}`);
  if (report.ok) {
    const server = report.server?.version ? ` (server ${report.server.version}${report.server.connId ? `, connId ${report.server.connId}` : ''})` : '';
    lines.push(`  protocol      ${report.protocol}${server}`, 'connected');
    return `${lines.join('\n')}\n`;
  }
  if (report.close) {
    const by = report.close.by === 'client' ? 'by the probe' : 'by the gateway or the network';
    lines.push(`  closed        ${report.close.code} ${JSON.stringify(report.close.reason)} (${by})`);
  }
  if (report.error) {
    const detail = (report.error.details as { code?: unknown } | undefined)?.code;
    lines.push(`  error         ${report.error.code}${typeof detail === 'string' ? ` ${detail}` : ''}: ${report.error.message}`);
  }
  if (report.socketError) lines.push(`  socket error  ${report.socketError}`);
  if (report.diagnosis) lines.push(`  root cause    ${report.diagnosis.summary}`);
  lines.push('not connected');
  return `${lines.join('\n')}\n`;
}
