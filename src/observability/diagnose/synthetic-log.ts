// A synthetic actorgate log of any length, for the diagnose benchmark and the million-line test: the
// gateway's own line shapes (copied from what it writes) in a fixed mix, with other services' lines,
// text lines and cut lines among them. It also returns what a diagnosis of it must count, derived
// from the mix alone, so the test does not check the aggregator against itself.
import { closeSync, openSync, writeSync } from 'node:fs';

export const SYNTHETIC_HANDSHAKE_TIMEOUT_MS = 10_000;
/** The address that guesses tokens and gets its upgrades refused: the top address of the diagnosis. */
export const NOISY_ADDRESS = '203.0.113.7';

export interface SyntheticLogTotals {
  lines: number;
  records: number;
  skipped: number;
  corrupt: number;
  opened: number;
  ready: number;
  closed: number;
  swiftpmHelpers: number;
  outcomes: Record<'peer-closed' | 'handshake-timeout' | 'closed-before-connect' | 'socket-error' | 'auth-rejected' | 'protocol-mismatch', number>;
  closedBeforeConnect: { total: number; under100ms: number; upToTimeout: number };
  handshakeTimeouts: number;
  authFailures: Record<string, number>;
  deviceFailures: Record<string, number>;
  lockouts: number;
  upgradeRejections: { logged: number; suppressed: number; total: number };
  gatewayErrors: number;
  socketErrors: number;
  noisyAddressFailures: number;
}

type Scenario = (n: number, at: () => string) => string[];

const CONN_PREFIX = '5ea4a5cb-87a7-46a9-9b60-';
const connId = (n: number) => CONN_PREFIX + n.toString(16).padStart(12, '0');
const address = (n: number) => `10.0.${(n >> 8) & 255}.${n & 255}`;

function line(level: number, time: string, fields: string, msg: string): string {
  return `{"level":${level},"time":"${time}","service":"actorgate",${fields},"msg":"${msg}"}`;
}
const opened = (n: number, time: string, remote: string, agent = 'openclaw-cli/2026.9.6') =>
  line(20, time, `"connId":"${connId(n)}","remoteAddr":"${remote}","userAgent":"${agent}","event":"connection.opened"`, 'connection opened');
const readyLine = (n: number, time: string, remote: string) =>
  line(
    30,
    time,
    `"connId":"${connId(n)}","remoteAddr":"${remote}","durationMs":4,"event":"connection.ready","role":"operator","clientId":"cli","clientMode":"cli","protocol":4`,
    'handshake complete',
  );
function closedLine(n: number, time: string, remote: string, durationMs: number, level: number, cause: string, code: number, reason: string, msg: string, detail?: string) {
  const detailField = detail === undefined ? '' : `,"detail":"${detail}"`;
  return line(
    level,
    time,
    `"connId":"${connId(n)}","remoteAddr":"${remote}","durationMs":${durationMs},"event":"connection.closed","cause":"${cause}","code":${code},"reason":"${reason}"${detailField}`,
    msg,
  );
}
const refused = (n: number, time: string, remote: string, reason: string, detail: string) =>
  closedLine(n, time, remote, 3 + (n % 40), 40, 'auth-rejected', 1008, reason, 'handshake rejected', detail);

/** One cycle of the mix: each entry is a connection (or a line that is not one) and the lines it writes. */
const CYCLE: { kind: string; scenario: Scenario }[] = [
  ...Array.from({ length: 10 }, () => ({
    kind: 'normal',
    scenario: ((n, at) => {
      const remote = address(n % 300);
      return [opened(n, at(), remote), readyLine(n, at(), remote), closedLine(n, at(), remote, 60_000 + (n % 1_000), 30, 'peer-closed', 1000, '', 'connection closed')];
    }) as Scenario,
  })),
  {
    kind: 'dropped',
    scenario: (n, at) => {
      const remote = address(n % 300);
      return [opened(n, at(), remote), readyLine(n, at(), remote), closedLine(n, at(), remote, 5_000 + (n % 500), 30, 'peer-closed', 1006, '', 'connection closed')];
    },
  },
  {
    kind: 'timeout',
    scenario: (n, at) => [
      opened(n, at(), address(n % 50)),
      closedLine(n, at(), address(n % 50), SYNTHETIC_HANDSHAKE_TIMEOUT_MS + (n % 5), 40, 'handshake-timeout', 1008, 'handshake timeout', `handshake timeout conn=${connId(n)}`),
    ],
  },
  ...Array.from({ length: 2 }, () => ({
    kind: 'fast-close',
    scenario: ((n, at) => [opened(n, at(), address(n % 50)), closedLine(n, at(), address(n % 50), 1 + (n % 60), 40, 'closed-before-connect', 1006, '', 'closed before connect')]) as Scenario,
  })),
  {
    kind: 'slow-close',
    scenario: (n, at) => [opened(n, at(), address(n % 50)), closedLine(n, at(), address(n % 50), 150 + (n % 9_000), 40, 'closed-before-connect', 1000, '', 'closed before connect')],
  },
  {
    kind: 'helper',
    scenario: (n, at) => [
      opened(n, at(), '127.0.0.1', 'swiftpm-testing-helper/5.10'),
      line(
        30,
        at(),
        `"connId":"${connId(n)}","remoteAddr":"127.0.0.1","durationMs":2,"event":"connection.helper_closed","cause":"helper-closed-before-connect","code":1005,"reason":"","ready":false`,
        'closed before connect (swiftpm helper)',
      ),
    ],
  },
  {
    kind: 'socket-error',
    scenario: (n, at) => [
      opened(n, at(), address(n % 50)),
      closedLine(n, at(), address(n % 50), 30 + (n % 50), 40, 'socket-error', 1006, '', 'socket error', 'read ECONNRESET'),
    ],
  },
  ...Array.from({ length: 2 }, () => ({
    kind: 'token-mismatch',
    scenario: ((n, at) => [opened(n, at(), NOISY_ADDRESS), refused(n, at(), NOISY_ADDRESS, 'unauthorized: gateway token mismatch', 'AUTH_TOKEN_MISMATCH')]) as Scenario,
  })),
  {
    kind: 'token-missing',
    scenario: (n, at) => [opened(n, at(), address(n % 50)), refused(n, at(), address(n % 50), 'unauthorized: gateway token missing', 'AUTH_TOKEN_MISSING')],
  },
  {
    kind: 'device-signature',
    scenario: (n, at) => [opened(n, at(), address(n % 50)), refused(n, at(), address(n % 50), 'device signature invalid', 'DEVICE_AUTH_SIGNATURE_INVALID')],
  },
  {
    kind: 'pairing-required',
    scenario: (n, at) => [
      opened(n, at(), address(n % 50)),
      line(30, at(), `"event":"device.pair.requested","requestId":"r${n}","deviceId":"d${n}"`, 'device.pair.requested'),
      refused(n, at(), address(n % 50), 'pairing required', 'PAIRING_REQUIRED'),
    ],
  },
  {
    kind: 'protocol-mismatch',
    scenario: (n, at) => [
      opened(n, at(), address(n % 50)),
      closedLine(n, at(), address(n % 50), 5, 40, 'protocol-mismatch', 1002, 'protocol mismatch', 'handshake rejected'),
    ],
  },
  {
    kind: 'upgrade-rejected',
    scenario: (n, at) => [
      line(40, at(), `"event":"upgrade.rejected","reason":"too many unauthenticated connections","remoteAddr":"${NOISY_ADDRESS}","count":32,"limit":32,"suppressed":3`, 'upgrade rejected'),
    ],
  },
  {
    kind: 'locked-out',
    scenario: (n, at) => [
      line(40, at(), `"event":"auth.locked_out","connId":"${connId(n)}","remoteAddr":"${NOISY_ADDRESS}","failures":10,"windowMs":60000,"lockoutMs":300000`, 'too many failed attempts: address locked out'),
    ],
  },
  { kind: 'gateway-error', scenario: (n, at) => [line(50, at(), `"connId":"${connId(n)}","method":"health","err":{"message":"boom"}`, 'request handler failed')] },
  { kind: 'other-service', scenario: (n, at) => [`{"level":30,"time":"${at()}","service":"billing","msg":"invoice ${n} sent"}`] },
  { kind: 'text', scenario: (n) => [`npm WARN deprecated some-package@1.0.${n % 10}`] },
  { kind: 'corrupt', scenario: (_n, at) => [`{"level":40,"time":"${at()}","service":"actorgate","connId":"cut`] },
];

function linesPerCycle(): number {
  let count = 0;
  let n = 0;
  for (const { scenario } of CYCLE) count += scenario(n++, () => '').length;
  return count;
}

/** Writes a log of exactly `totalLines` lines to `path` and returns what its diagnosis must count. */
export function writeSyntheticLog(path: string, totalLines: number, startMs = Date.parse('2026-11-25T00:00:00.000Z')): SyntheticLogTotals {
  const perCycle = linesPerCycle();
  const cycles = Math.floor(totalLines / perCycle);
  const fd = openSync(path, 'w');
  // One timestamp per cycle of the mix: formatting a date per line would be a third of the run.
  let stamp = '';
  const at = () => stamp;
  let n = 0;
  let batch: string[] = [];
  const flush = () => {
    if (batch.length === 0) return;
    writeSync(fd, batch.join('\n') + '\n');
    batch = [];
  };
  try {
    for (let cycle = 0; cycle < cycles; cycle++) {
      stamp = new Date(startMs + cycle * 200).toISOString();
      for (const { scenario } of CYCLE) for (const text of scenario(n++, at)) batch.push(text);
      if (batch.length >= 20_000) flush();
    }
    // Text lines round the log up to the exact length asked for.
    for (let filled = cycles * perCycle; filled < totalLines; filled++) batch.push('-- filler line --');
    flush();
  } finally {
    closeSync(fd);
  }
  return totalsOf(cycles, totalLines - cycles * perCycle);
}

function totalsOf(cycles: number, fillers: number): SyntheticLogTotals {
  const times = (kind: string) => cycles * CYCLE.filter((entry) => entry.kind === kind).length;
  const connections = CYCLE.filter((entry) => !['upgrade-rejected', 'locked-out', 'gateway-error', 'other-service', 'text', 'corrupt'].includes(entry.kind)).length;
  const perCycle = linesPerCycle();
  const skippedLines = times('other-service') + times('text');
  const outcomes = {
    'peer-closed': times('normal') + times('dropped'),
    'handshake-timeout': times('timeout'),
    'closed-before-connect': times('fast-close') + times('slow-close'),
    'socket-error': times('socket-error'),
    'auth-rejected': times('token-mismatch') + times('token-missing') + times('device-signature') + times('pairing-required'),
    'protocol-mismatch': times('protocol-mismatch'),
  };
  return {
    lines: cycles * perCycle + fillers,
    records: cycles * perCycle - skippedLines - times('corrupt'),
    skipped: skippedLines + fillers,
    corrupt: times('corrupt'),
    opened: cycles * connections,
    ready: times('normal') + times('dropped'),
    closed: cycles * connections - times('helper'),
    swiftpmHelpers: times('helper'),
    outcomes,
    closedBeforeConnect: { total: outcomes['closed-before-connect'], under100ms: times('fast-close'), upToTimeout: times('slow-close') },
    handshakeTimeouts: times('timeout'),
    authFailures: { AUTH_TOKEN_MISMATCH: times('token-mismatch'), AUTH_TOKEN_MISSING: times('token-missing') },
    deviceFailures: { DEVICE_AUTH_SIGNATURE_INVALID: times('device-signature'), PAIRING_REQUIRED: times('pairing-required') },
    lockouts: times('locked-out'),
    upgradeRejections: { logged: times('upgrade-rejected'), suppressed: 3 * times('upgrade-rejected'), total: 4 * times('upgrade-rejected') },
    gatewayErrors: times('gateway-error'),
    socketErrors: times('socket-error'),
    noisyAddressFailures: times('token-mismatch'),
  };
}
