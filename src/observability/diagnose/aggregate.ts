// Folds actorgate's log records into a diagnosis. Pure: records in, a `Diagnosis` out; reading and
// parsing lines is the caller's (see ./read.ts), so this runs as well over an array in a unit test
// as over a million-line file.
import { CloseCode } from '../../../machines/protocol.js';
import { OPTIONS } from '../../config/options.js';
import { ADVICE, nodeCommandAdvice, refusalAdvice } from './advice.js';
import { BoundedCounter } from './counter.js';
import type { AddressSummary, CountedReason, Diagnosis, DurationBuckets, Finding } from './diagnosis.js';

/** The timeout a log is read against when it names none: the gateway's default. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = OPTIONS.handshakeTimeoutMs.default;
export const FAST_CLOSE_MS = 100;
const TOP_ADDRESSES = 10;

export interface DiagnoseOptions {
  /** The gateway's handshake timeout; when absent it is read or inferred from the logs. */
  handshakeTimeoutMs?: number;
}

/** A parsed log line: pino's JSON object. */
export type LogRecord = Record<string, unknown>;

/** Causes that only ever end a connection still in its handshake. */
const HANDSHAKE_ONLY_CAUSES = new Set([
  'handshake-timeout',
  'closed-before-connect',
  'protocol-mismatch',
  'invalid-connect',
  'connect-required',
  'auth-rejected',
  'pairing-not-saved',
]);
/** Causes that only ever end a connection that completed its handshake. */
const READY_ONLY_CAUSES = new Set(['peer-closed', 'credentials-revoked', 'slow-consumer', 'unauthorized-calls']);
/** Causes with a finding of their own below; any other cause but these gets a generic one. */
const UNREMARKABLE_CAUSES = new Set(['peer-closed', 'shutdown']);
const HELPER_CAUSE = 'helper-closed-before-connect';
/** The close code a socket reports when the peer went without a close frame. */
const ABNORMAL_CLOSE = CloseCode.abnormalClosure;

const DEVICE_REFUSALS = /^(DEVICE_|PAIRING_|AUTH_DEVICE_TOKEN_MISMATCH$|AUTH_SCOPE_MISMATCH$)/;

interface AddressCounts {
  handshakeFailures: number;
  rejectedUpgrades: number;
  ready: number;
}

const asString = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const asNumber = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/** An IPv4-mapped IPv6 address counts as its IPv4 address, as the gateway's limits count it. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function addDurations(into: DurationBuckets, from: DurationBuckets): void {
  into.under100ms += from.under100ms;
  into.upToTimeout += from.upToTimeout;
  into.atTimeout += from.atTimeout;
}

export class DiagnosisBuilder {
  private lines = 0;
  private records = 0;
  private skipped = 0;
  private corrupt = 0;
  private oversized = 0;
  private from: string | undefined;
  private to: string | undefined;

  private opened = 0;
  private ready = 0;
  private closed = 0;
  private swiftpmHelpers = 0;
  private lockouts = 0;
  private pairingRefused = 0;
  private upgradeLines = 0;
  private upgradeRefusals = 0;
  private upgradeSuppressed = 0;
  private tcpDropped = 0;
  /** Connections seen ready and not yet closed: tells a close after the handshake from one during it. */
  private readonly openReady = new Set<string>();
  private readonly outcomes = new BoundedCounter(1_000);
  private readonly closeCodes = new BoundedCounter();
  private readonly refusals = new BoundedCounter(1_000);
  private readonly refusalReasons = new Map<string, string>();
  private readonly socketErrors = new BoundedCounter(1_000);
  private readonly gatewayErrors = new BoundedCounter(1_000);
  /** Node commands an operator was refused (`node.invoke.refused`, `node.pair.refused`), by details.code. */
  private readonly nodeCommandRefusals = new BoundedCounter(1_000);
  /** Frames refused before they were parsed, by `details.code` (`frame.refused`, suppressed ones included). */
  private readonly framesRefused = new BoundedCounter(1_000);
  private droppedAfterReady = 0;
  private readonly addresses = new Map<string, AddressCounts>();
  private handshakeTimeouts = 0;
  /** Per cause, the durations of handshake-phase closes (timeouts apart): bucketed once the timeout is known. */
  private readonly handshakeDurations = new Map<string, Map<number, number>>();
  private shortestTimeoutClose: number | undefined;
  private loggedTimeoutMs: number | undefined;

  constructor(private readonly options: DiagnoseOptions = {}) {}

  /** A line that is not actorgate's: blank, not JSON, or another service's. */
  skipLine(): void {
    this.lines++;
    this.skipped++;
  }

  /** A line that names actorgate but does not parse. */
  corruptLine(): void {
    this.lines++;
    this.corrupt++;
  }

  oversizedLines(count: number): void {
    this.oversized += count;
  }

  /** A `connection opened` line counted without parsing it (the reader's shortcut for the commonest debug line). */
  openedLine(): void {
    this.lines++;
    this.records++;
    this.opened++;
  }

  /** One parsed line; records of other services are skipped. */
  add(record: LogRecord): void {
    this.lines++;
    if (record.service !== 'actorgate') {
      this.skipped++;
      return;
    }
    this.records++;
    const time = record.time;
    const stamp = typeof time === 'string' ? time : typeof time === 'number' ? new Date(time).toISOString() : undefined;
    if (stamp !== undefined) {
      this.from ??= stamp;
      this.to = stamp;
    }
    const logged = asNumber(record.handshakeTimeoutMs);
    if (logged !== undefined) this.loggedTimeoutMs = Math.max(this.loggedTimeoutMs ?? 0, logged);
    const level = asNumber(record.level) ?? 0;
    if (level >= 50) this.gatewayErrors.add(asString(record.msg) ?? '(no message)');

    switch (record.event) {
      case 'connection.opened':
        this.opened++;
        break;
      case 'connection.ready':
        this.onReady(record);
        break;
      case 'connection.closed':
        this.onClosed(record);
        break;
      case 'connection.helper_closed':
        this.swiftpmHelpers++;
        break;
      case 'upgrade.rejected':
        this.onUpgradeRejected(record);
        break;
      case 'tcp.dropped':
        // A summary line only reports the drops it suppressed; every other line is one drop itself.
        this.tcpDropped += (asNumber(record.suppressed) ?? 0) + ((asString(record.msg) ?? '').includes('summary') ? 0 : 1);
        break;
      case 'auth.locked_out':
        this.lockouts++;
        break;
      case 'pairing.refused':
        this.pairingRefused++;
        break;
      case 'node.invoke.refused':
      case 'node.pair.refused':
        this.nodeCommandRefusals.add(`${record.event === 'node.pair.refused' ? 'node.pair' : 'node.invoke'}\u0000${asString(record.detail) ?? 'unknown'}`);
        break;
      case 'frame.refused':
        // One line per connection and interval: it stands for itself and the refusals it says were held back before it.
        this.framesRefused.add(asString(record.code) ?? 'unknown', 1 + (asNumber(record.suppressed) ?? 0));
        break;
      case 'upgrade.error':
        // Errors of a raw socket that never became a connection (older gateways logged every reset here, at
        // debug and without connId; now one after the upgrade closes its connection as a socket error).
        this.socketErrors.add(`${asString(record.err) ?? '(no detail)'} (logged as upgrade.error)`);
        break;
    }
  }

  private address(record: LogRecord): AddressCounts | undefined {
    const remoteAddr = asString(record.remoteAddr);
    if (remoteAddr === undefined) return undefined;
    const key = plainAddress(remoteAddr);
    let counts = this.addresses.get(key);
    if (!counts) {
      // Past this many distinct addresses the rest are not ranked; a real gateway's log never gets near it.
      if (this.addresses.size >= 100_000) return undefined;
      counts = { handshakeFailures: 0, rejectedUpgrades: 0, ready: 0 };
      this.addresses.set(key, counts);
    }
    return counts;
  }

  private onReady(record: LogRecord): void {
    this.ready++;
    const connId = asString(record.connId);
    if (connId !== undefined) this.openReady.add(connId);
    const address = this.address(record);
    if (address) address.ready++;
  }

  private onClosed(record: LogRecord): void {
    const cause = asString(record.cause) ?? 'unknown';
    if (cause === HELPER_CAUSE) {
      // Older gateways logged helpers as connection.closed, at debug.
      this.swiftpmHelpers++;
      return;
    }
    this.closed++;
    this.outcomes.add(cause);
    const code = asNumber(record.code) ?? 0;
    const reason = asString(record.reason) ?? '';
    this.closeCodes.add(`${code}\u0000${reason}`);
    const detail = asString(record.detail);
    const connId = asString(record.connId);
    const durationMs = asNumber(record.durationMs) ?? 0;

    if (cause === 'auth-rejected') {
      const refusal = detail ?? 'unknown';
      this.refusals.add(refusal);
      if (!this.refusalReasons.has(refusal)) this.refusalReasons.set(refusal, reason);
    }
    if (cause === 'socket-error') this.socketErrors.add(detail ?? '(no detail)');

    // The gateway says whether the handshake had completed (`ready`); older logs are read by their ready lines.
    const seenReady = connId !== undefined && this.openReady.delete(connId);
    const wasReady = typeof record.ready === 'boolean' ? record.ready : seenReady || READY_ONLY_CAUSES.has(cause);
    if (wasReady) {
      if ((cause === 'peer-closed' || cause === 'socket-error') && code === ABNORMAL_CLOSE) this.droppedAfterReady++;
      return;
    }
    if (cause === 'handshake-timeout') {
      this.handshakeTimeouts++;
      this.shortestTimeoutClose = Math.min(this.shortestTimeoutClose ?? durationMs, durationMs);
    } else {
      let histogram = this.handshakeDurations.get(cause);
      if (!histogram) this.handshakeDurations.set(cause, (histogram = new Map()));
      histogram.set(durationMs, (histogram.get(durationMs) ?? 0) + 1);
    }
    if (cause !== 'shutdown' && (HANDSHAKE_ONLY_CAUSES.has(cause) || durationMs < this.provisionalTimeoutMs())) {
      const address = this.address(record);
      if (address) address.handshakeFailures++;
    }
  }

  private onUpgradeRejected(record: LogRecord): void {
    this.upgradeLines++;
    const suppressed = asNumber(record.suppressed) ?? 0;
    this.upgradeSuppressed += suppressed;
    // A summary line only reports the refusals it suppressed; every other line is one refusal itself.
    const isSummary = (asString(record.msg) ?? '').includes('summary');
    if (!isSummary) this.upgradeRefusals++;
    const address = this.address(record);
    if (address) address.rejectedUpgrades += suppressed + (isSummary ? 0 : 1);
  }

  /** The timeout as far as the lines read so far tell; only address attribution of rare causes needs it early. */
  private provisionalTimeoutMs(): number {
    return this.options.handshakeTimeoutMs ?? this.loggedTimeoutMs ?? this.shortestTimeoutClose ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  }

  private resolveTimeout(): Diagnosis['handshakeTimeout'] {
    if (this.options.handshakeTimeoutMs !== undefined) return { ms: this.options.handshakeTimeoutMs, source: 'option' };
    if (this.loggedTimeoutMs !== undefined) return { ms: this.loggedTimeoutMs, source: 'logged' };
    if (this.shortestTimeoutClose !== undefined) return { ms: this.shortestTimeoutClose, source: 'inferred' };
    return { ms: DEFAULT_HANDSHAKE_TIMEOUT_MS, source: 'default' };
  }

  finish(): Diagnosis {
    const handshakeTimeout = this.resolveTimeout();
    const timeoutMs = handshakeTimeout.ms;

    const byOutcome: ({ outcome: string } & DurationBuckets)[] = [];
    if (this.handshakeTimeouts > 0) byOutcome.push({ outcome: 'handshake-timeout', under100ms: 0, upToTimeout: 0, atTimeout: this.handshakeTimeouts });
    for (const [outcome, histogram] of this.handshakeDurations) {
      const buckets = { outcome, under100ms: 0, upToTimeout: 0, atTimeout: 0 };
      // A close other than the timeout's at or past the timeout cannot have been in its handshake:
      // its ready line predates the log, so it is left out of the buckets.
      for (const [durationMs, count] of histogram) {
        if (durationMs < FAST_CLOSE_MS) buckets.under100ms += count;
        else if (durationMs < timeoutMs) buckets.upToTimeout += count;
      }
      if (buckets.under100ms + buckets.upToTimeout > 0) byOutcome.push(buckets);
    }
    const bucketTotal = (row: DurationBuckets) => row.under100ms + row.upToTimeout + row.atTimeout;
    byOutcome.sort((a, b) => bucketTotal(b) - bucketTotal(a) || a.outcome.localeCompare(b.outcome));
    const durations = { under100ms: 0, upToTimeout: 0, atTimeout: 0, byOutcome };
    for (const row of byOutcome) addDurations(durations, row);
    const beforeConnect = byOutcome.find((row) => row.outcome === 'closed-before-connect');
    const closedBeforeConnect = {
      total: this.outcomes.get('closed-before-connect'),
      under100ms: beforeConnect?.under100ms ?? 0,
      upToTimeout: beforeConnect?.upToTimeout ?? 0,
    };

    const authFailures: CountedReason[] = [];
    const deviceFailures: CountedReason[] = [];
    for (const [code, count] of this.refusals.sorted()) {
      const row = { code, reason: this.refusalReasons.get(code) ?? '', count };
      (DEVICE_REFUSALS.test(code) ? deviceFailures : authFailures).push(row);
    }

    const topAddresses: AddressSummary[] = [...this.addresses]
      .filter(([, counts]) => counts.handshakeFailures + counts.rejectedUpgrades > 0)
      .sort(
        ([addrA, a], [addrB, b]) =>
          b.handshakeFailures + b.rejectedUpgrades - (a.handshakeFailures + a.rejectedUpgrades) || addrA.localeCompare(addrB),
      )
      .slice(0, TOP_ADDRESSES)
      .map(([remoteAddr, counts]) => ({ remoteAddr, ...counts }));

    const diagnosis: Omit<Diagnosis, 'findings'> = {
      input: {
        lines: this.lines,
        records: this.records,
        skipped: this.skipped,
        corrupt: this.corrupt,
        oversized: this.oversized,
        ...(this.from !== undefined ? { from: this.from } : {}),
        ...(this.to !== undefined ? { to: this.to } : {}),
      },
      handshakeTimeout,
      connections: {
        opened: this.opened,
        ready: this.ready,
        closed: this.closed,
        openAtEnd: this.openReady.size,
        droppedAfterReady: this.droppedAfterReady,
        byOutcome: this.outcomes.sorted().map(([outcome, count]) => ({ outcome, count })),
      },
      closeCodes: this.closeCodes.sorted().map(([key, count]) => {
        const [code = '0', reason = ''] = key.split('\u0000');
        return { code: Number(code), reason, count };
      }),
      durations,
      handshakeTimeouts: this.handshakeTimeouts,
      closedBeforeConnect,
      swiftpmHelpers: this.swiftpmHelpers,
      authFailures,
      deviceFailures,
      lockouts: this.lockouts,
      pairingRefused: this.pairingRefused,
      upgradeRejections: {
        logged: this.upgradeLines,
        suppressed: this.upgradeSuppressed,
        total: this.upgradeRefusals + this.upgradeSuppressed,
      },
      tcpDropped: this.tcpDropped,
      framesRefused: this.framesRefused.sorted().map(([code, count]) => ({ code, count })),
      socketErrors: this.socketErrors.sorted().map(([detail, count]) => ({ detail, count })),
      gatewayErrors: this.gatewayErrors.sorted().map(([msg, count]) => ({ msg, count })),
      nodeCommandRefusals: this.nodeCommandRefusals.sorted().map(([key, count]) => {
        const [method = '', code = ''] = key.split('\u0000');
        return { method, code, count };
      }),
      topAddresses,
    };
    return { ...diagnosis, findings: this.findings(diagnosis) };
  }

  private findings(d: Omit<Diagnosis, 'findings'>): Finding[] {
    const found: Finding[] = [];
    const add = (id: string, severity: Finding['severity'], count: number, summary: string, advice: string) => {
      if (count > 0) found.push({ id, severity, count, summary, advice });
    };
    const outcome = (name: string) => this.outcomes.get(name);

    add('gateway-errors', 'error', d.gatewayErrors.reduce((sum, row) => sum + row.count, 0), 'lines at level error or above', ADVICE.gatewayErrors);
    add('handshake-timeout', 'warn', d.handshakeTimeouts, `handshake timeouts (${d.handshakeTimeout.ms} ms)`, ADVICE.handshakeTimeout(d.handshakeTimeout.ms));
    add('socket-error', 'warn', d.socketErrors.reduce((sum, row) => sum + row.count, 0), 'socket errors', ADVICE.socketError);
    add('closed-before-connect-fast', 'warn', d.closedBeforeConnect.under100ms, 'closed before connect within 100 ms', ADVICE.closedBeforeConnectFast);
    add('closed-before-connect-slow', 'warn', d.closedBeforeConnect.upToTimeout, 'closed before connect after 100 ms', ADVICE.closedBeforeConnectSlow);
    for (const row of [...d.authFailures, ...d.deviceFailures]) {
      add(`auth:${row.code}`, 'warn', row.count, `connects refused: ${row.code}${row.reason ? ` (${row.reason})` : ''}`, refusalAdvice(row.code));
    }
    add('auth-locked-out', 'warn', d.lockouts, 'addresses locked out after failed authentication', ADVICE.lockedOut);
    add('pairing-refused', 'warn', d.pairingRefused, 'pairings refused at a limit (pending requests, silent pairings, paired cap)', ADVICE.pairingRefused);
    add('upgrade-rejected', 'warn', d.upgradeRejections.total, 'upgrades refused with HTTP 503 (too many unauthenticated sockets)', ADVICE.upgradeRejected);
    add('tcp-dropped', 'warn', d.tcpDropped, 'TCP connections dropped past the connection cap', ADVICE.tcpDropped);
    for (const row of d.framesRefused) {
      add(`frame-refused:${row.code}`, 'warn', row.count, `frames refused before parsing: ${row.code}`, ADVICE.frameRefused(row.code));
    }
    add('protocol-mismatch', 'warn', outcome('protocol-mismatch'), 'protocol version mismatches', ADVICE.protocolMismatch);
    add('malformed-frame', 'warn', outcome('malformed-frame'), 'malformed frames', ADVICE.malformedFrame);
    add('invalid-connect', 'warn', outcome('invalid-connect'), 'invalid connect params', ADVICE.invalidConnect);
    add('connect-required', 'warn', outcome('connect-required'), 'first requests other than connect', ADVICE.connectRequired);
    add('frame-too-large', 'warn', outcome('frame-too-large'), 'frames too large', ADVICE.frameTooLarge);
    add('slow-consumer', 'warn', outcome('slow-consumer'), 'slow consumers closed', ADVICE.slowConsumer);
    add('pong-timeout', 'warn', outcome('pong-timeout'), 'peers dropped for not answering pings', ADVICE.pongTimeout);
    add('unauthorized-calls', 'warn', outcome('unauthorized-calls'), 'connections closed after too many refused calls', ADVICE.unauthorizedCalls);
    add('pairing-not-saved', 'error', outcome('pairing-not-saved'), 'connects refused: pairing state not saved', ADVICE.pairingNotSaved);
    add('dropped-after-ready', 'warn', d.connections.droppedAfterReady, 'ready connections dropped without a close frame (1006)', ADVICE.droppedAfterReady);
    add('corrupt-lines', 'warn', d.input.corrupt, 'actorgate lines that are not valid JSON', ADVICE.corruptLines);
    add('oversized-lines', 'warn', d.input.oversized, 'lines over 1 MiB skipped', ADVICE.oversizedLines);
    for (const row of d.nodeCommandRefusals) {
      const what = row.method === 'node.pair' ? 'node approvals' : 'node invokes';
      add(`${row.method}:${row.code}`, 'warn', row.count, `${what} refused: ${row.code}`, nodeCommandAdvice(row.code));
    }
    add('credentials-revoked', 'info', outcome('credentials-revoked'), 'connections closed after a device or node was removed, or a device token rotated or revoked', ADVICE.credentialsRevoked);
    add('swiftpm-helpers', 'info', d.swiftpmHelpers, 'SwiftPM helper connections (counted apart)', ADVICE.swiftpmHelpers);

    const named = new Set(found.map((finding) => finding.id));
    for (const { outcome: cause, count } of d.connections.byOutcome) {
      if (UNREMARKABLE_CAUSES.has(cause) || named.has(cause) || cause === 'auth-rejected' || cause === 'closed-before-connect' || cause === 'credentials-revoked') continue;
      add(cause, 'warn', count, `closes with cause ${cause}`, ADVICE.otherCause(cause));
    }

    const rank = { error: 0, warn: 1, info: 2 } as const;
    return found.sort((a, b) => rank[a.severity] - rank[b.severity] || b.count - a.count || a.id.localeCompare(b.id));
  }
}

/** The diagnosis of records already parsed (each one a line of the log). */
export function diagnoseRecords(records: Iterable<LogRecord>, options: DiagnoseOptions = {}): Diagnosis {
  const builder = new DiagnosisBuilder(options);
  for (const record of records) builder.add(record);
  return builder.finish();
}
