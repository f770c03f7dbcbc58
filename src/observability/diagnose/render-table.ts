// The diagnosis as plain-text tables for a terminal.
import type { Diagnosis, Finding } from './diagnosis.js';

type Cell = string | number;

const formatCount = (value: number) => value.toLocaleString('en-US');
const plural = (count: number, noun: string) => `${formatCount(count)} ${noun}${count === 1 ? '' : 's'}`;

/** Columns padded to their widest cell; numbers right-aligned, text left-aligned; the last column is not padded. */
function table(header: Cell[], rows: Cell[][], indent = '  '): string[] {
  if (rows.length === 0) return [];
  const all = [header, ...rows];
  const text = all.map((row) => row.map((cell) => (typeof cell === 'number' ? formatCount(cell) : cell)));
  const widths = header.map((_, column) => Math.max(...text.map((row) => row[column]?.length ?? 0)));
  return text.map((row, rowIndex) =>
    indent +
    row
      .map((cell, column) => {
        const last = column === row.length - 1;
        const numeric = rowIndex > 0 ? typeof all[rowIndex]?.[column] === 'number' : typeof rows[0]?.[column] === 'number';
        if (numeric) return cell.padStart(widths[column] ?? 0);
        return last ? cell : cell.padEnd(widths[column] ?? 0);
      })
      .join('  ')
      .trimEnd(),
  );
}

function section(title: string, lines: string[], empty = '  none'): string[] {
  return ['', `${title}:`, ...(lines.length > 0 ? lines : [empty])];
}

const TIMEOUT_SOURCE: Record<Diagnosis['handshakeTimeout']['source'], string> = {
  option: 'from --handshake-timeout-ms',
  logged: 'as logged by the gateway',
  inferred: 'inferred from the shortest handshake timeout in the log',
  default: 'the default; no handshake timeout in the log, --handshake-timeout-ms sets it',
};

function findingLines(findings: Finding[]): string[] {
  const width = Math.max(0, ...findings.map((finding) => formatCount(finding.count).length));
  return findings.flatMap((finding) => [
    `  ${finding.severity.toUpperCase().padEnd(5)} ${formatCount(finding.count).padStart(width)}  ${finding.summary}`,
    `  ${' '.repeat(6 + width)}  -> ${finding.advice}`,
  ]);
}

export function renderTable(d: Diagnosis, source: string): string {
  const { input, connections } = d;
  const timeoutMs = d.handshakeTimeout.ms;
  const period = input.from !== undefined ? `, ${input.from} to ${input.to}` : '';
  const skipped = [
    `${formatCount(input.skipped)} skipped`,
    ...(input.corrupt > 0 ? [`${formatCount(input.corrupt)} corrupt`] : []),
    ...(input.oversized > 0 ? [`${formatCount(input.oversized)} over 1 MiB`] : []),
  ].join(', ');
  const out: string[] = [
    `actorgate diagnose ${source}: ${formatCount(input.lines)} lines, ${formatCount(input.records)} from actorgate (${skipped})${period}`,
    `handshake timeout: ${timeoutMs} ms (${TIMEOUT_SOURCE[d.handshakeTimeout.source]})`,
  ];

  out.push(
    ...section(
      'Connections',
      table(
        ['connections', 'count'],
        [
          ['opened (debug lines)', connections.opened],
          ['completed the handshake', connections.ready],
          ['closed', connections.closed],
          ['ready, still open at the end', connections.openAtEnd],
          ['ready, then dropped (1006)', connections.droppedAfterReady],
          ['SwiftPM helpers (counted apart)', d.swiftpmHelpers],
        ],
      ),
    ),
  );
  out.push(...section('Closes by outcome', table(['outcome', 'count'], connections.byOutcome.map((row) => [row.outcome, row.count]))));
  out.push(...section('Close codes', table(['code', 'count', 'reason'], d.closeCodes.map((row) => [String(row.code), row.count, row.reason || '(none)']))));

  const durationRows = d.durations.byOutcome.map((row) => [row.outcome, row.under100ms, row.upToTimeout, row.atTimeout]);
  if (durationRows.length > 1) durationRows.push(['total', d.durations.under100ms, d.durations.upToTimeout, d.durations.atTimeout]);
  out.push(
    ...section(
      'Ended in the handshake, by duration (durationMs)',
      table(['outcome', '< 100 ms', `100 ms to ${timeoutMs} ms`, `= timeout`], durationRows),
    ),
  );
  out.push(
    `  handshake timeouts: ${formatCount(d.handshakeTimeouts)}; closed before connect: ${formatCount(d.closedBeforeConnect.total)} ` +
      `(${formatCount(d.closedBeforeConnect.under100ms)} under 100 ms, ${formatCount(d.closedBeforeConnect.upToTimeout)} slower)`,
  );

  const refusalTable = (rows: Diagnosis['authFailures']) => table(['code', 'count', 'reason'], rows.map((row) => [row.code, row.count, row.reason]));
  out.push(...section('Authentication failures', refusalTable(d.authFailures)));
  out.push(...section('Device failures (identity, proof, pairing)', refusalTable(d.deviceFailures)));
  out.push(...section('Socket errors', table(['count', 'detail'], d.socketErrors.map((row) => [row.count, row.detail]))));
  const upgrades = d.upgradeRejections;
  out.push(
    ...section('Limits', [
      `  upgrades refused with HTTP 503: ${formatCount(upgrades.total)} (${plural(upgrades.logged, 'logged line')}, ${formatCount(upgrades.suppressed)} suppressed)`,
      `  addresses locked out after failed authentication: ${formatCount(d.lockouts)}`,
      `  pairings refused at a pairing limit: ${formatCount(d.pairingRefused)}`,
      `  TCP connections dropped past the connection cap: ${formatCount(d.tcpDropped)}`,
      `  frames refused before parsing: ${formatCount(d.framesRefused.reduce((sum, row) => sum + row.count, 0))}` +
        (d.framesRefused.length > 0 ? ` (${d.framesRefused.map((row) => `${row.code} ${formatCount(row.count)}`).join(', ')})` : ''),
    ]),
  );
  if (d.nodeCommandRefusals.length > 0) {
    const rows = d.nodeCommandRefusals.map((row) => [row.method, row.code, row.count]);
    out.push(...section('Node commands refused to operators', table(['method', 'code', 'count'], rows)));
  }
  if (d.gatewayErrors.length > 0) out.push(...section('Gateway errors', table(['count', 'message'], d.gatewayErrors.map((row) => [row.count, row.msg]))));
  out.push(
    ...section(
      'Top remote addresses (by failed handshakes and refused upgrades)',
      table(
        ['address', 'failed handshakes', 'refused upgrades', 'ready'],
        d.topAddresses.map((row) => [row.remoteAddr, row.handshakeFailures, row.rejectedUpgrades, row.ready]),
      ),
    ),
  );
  out.push(...section('Findings', findingLines(d.findings), '  nothing to report'));
  return `${out.join('\n')}\n`;
}
