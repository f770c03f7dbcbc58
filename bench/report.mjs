// The report: rows of medians over the rounds, ratios actorgate / bare (each the median of the per-round
// ratios), targets with pass / miss, a table on stdout, a JSON file and an SVG chart of the ratios.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatNumber, median } from './lib.mjs';

const KB = 1024;
const MB = 1024 * 1024;

/**
 * What the table shows. `a` and `b` read one round's value for actorgate and for the baseline (bare,
 * unless `against` says otherwise); `target` is on the ratio a / b (`absolute`: on a's value).
 */
export const ROW_SPECS = [
  ['hs.token.20', 'token handshakes/s, 20 in flight', (r) => r.hs.token20.perSecond, 0, 'higher', { op: '>=', value: 0.8 }],
  ['hs.token.20.cpu', '  server CPU per handshake (ms)', (r) => r.hs.token20.cpuMsPerOp, 3, 'lower'],
  ['hs.token.200', 'token handshakes/s, 200 in flight', (r) => r.hs.token200.perSecond, 0, 'higher', { op: '>=', value: 0.8 }],
  ['hs.token.200.cpu', '  server CPU per handshake (ms)', (r) => r.hs.token200.cpuMsPerOp, 3, 'lower'],
  ['hs.token.200.lg', '  load generator CPU per handshake (ms)', (r) => r.hs.token200.loadgenCpuMsPerOp, 3, 'lower'],
  ['hs.device.20', 'device-signed handshakes/s, 20 in flight', (r) => r.hs.device20.perSecond, 0, 'higher', { op: '>=', value: 0.6 }],
  ['hs.device.20.cpu', '  server CPU per handshake (ms)', (r) => r.hs.device20.cpuMsPerOp, 3, 'lower'],
  ['hs.device.200', 'device-signed handshakes/s, 200 in flight', (r) => r.hs.device200.perSecond, 0, 'higher', { op: '>=', value: 0.6 }],
  ['hs.device.200.cpu', '  server CPU per handshake (ms)', (r) => r.hs.device200.cpuMsPerOp, 3, 'lower'],
  ['hs.device.200.lg', '  load generator CPU per handshake (ms)', (r) => r.hs.device200.loadgenCpuMsPerOp, 3, 'lower'],
  ['mem.rss.1', (p) => `RSS per idle authenticated conn, ${p.holds[0] / 1000}k (KB)`, (r) => r.mem.samples[0].rssPerConn / KB, 1, 'lower', { op: '<=', value: 2 }],
  ['mem.heap.1', '  heap per conn (KB)', (r) => r.mem.samples[0].heapPerConn / KB, 1, 'lower'],
  ['mem.rss.2', (p) => `RSS per idle authenticated conn, ${p.holds[1] / 1000}k (KB)`, (r) => r.mem.samples[1].rssPerConn / KB, 1, 'lower', { op: '<=', value: 2 }],
  ['mem.heap.2', '  heap per conn (KB)', (r) => r.mem.samples[1].heapPerConn / KB, 1, 'lower'],
  ['mem.total.2', (p) => `  server RSS in all with ${p.holds[1] / 1000}k conns (MB)`, (r) => r.mem.samples[1].rss / MB, 1, 'lower', { op: '<', value: 200, absolute: true }],
  ['rtt.p50', (p) => `health round trip, ${p.rtt.connections / 1000}k conns, ${p.rtt.rate / 1000}k req/s: p50 (ms)`, (r) => r.net.rtt.p50, 3, 'lower'],
  ['rtt.p99', '  p99 (ms)', (r) => r.net.rtt.p99, 3, 'lower', { op: '<=', value: 1.5 }],
  ['rtt.cpu', '  server CPU per request (ms)', (r) => r.net.rtt.cpuMsPerOp, 4, 'lower'],
  ['fanout.cpu', (p) => `presence fan-out to ${p.fanout.connections / 1000}k: server CPU (ms, net)`, (r) => r.net.fanout.netCpuMsPerFanout, 3, 'lower', { op: '<=', value: 1.2 }],
  ['fanout.gross', '  incl. the trigger client\'s handshake (ms)', (r) => r.net.fanout.cpuMsPerFanout, 3, 'lower'],
];

function ratioOf(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN;
}

function meets(target, value) {
  if (!target || !Number.isFinite(value)) return undefined;
  switch (target.op) {
    case '>=':
      return value >= target.value;
    case '<=':
      return value <= target.value;
    case '<':
      return value < target.value;
    default:
      return undefined;
  }
}

const safe = (read, round) => {
  try {
    const value = read(round);
    return Number.isFinite(value) ? value : NaN;
  } catch {
    return NaN;
  }
};

/** One table row from per-round values of a and b. */
function makeRow(id, label, aValues, bValues, digits, better, target, extra = {}) {
  const ratios = aValues.map((a, i) => ratioOf(a, bValues[i]));
  const a = median(aValues);
  const b = median(bValues);
  const ratio = median(ratios);
  const judged = target ? (target.absolute ? a : ratio) : NaN;
  return { id, label, digits, better, a, b, ratio, aRounds: aValues, bRounds: bValues, ratioRounds: ratios, target: target ?? null, pass: meets(target, judged), ...extra };
}

/** All rows from the collected results. */
export function buildRows(results, p) {
  const rows = ROW_SPECS.map(([id, label, read, digits, better, target]) => {
    const aValues = results.rounds.map((round) => safe(read, round.actorgate));
    const bValues = results.rounds.map((round) => safe(read, round.bare));
    const row = makeRow(id, typeof label === 'function' ? label(p) : label, aValues, bValues, digits, better, target);
    if (results.reference) {
      const refValues = results.reference.rounds.map((round) => safe(read, round));
      row.reference = median(refValues);
      row.referenceRounds = refValues;
      row.actorgateOverReference = ratioOf(row.a, row.reference);
    }
    return row;
  });
  const micro = results.micro;
  if (micro) {
    // Supervisor join + leave: actorgate at 10k against actorgate at 1k (columns a / b).
    const at = (n) => micro.joinLeave.map((round) => round.find((r) => r.n === n)?.nsPerPair ?? NaN);
    const [small, large] = p.joinLeaveSizes;
    rows.push(
      makeRow('joinleave', `supervisor join+leave (ns): ${large / 1000}k conns / ${small / 1000}k`, at(large), at(small), 0, 'lower', { op: '<=', value: 1.5 }, { columns: [`${large / 1000}k`, `${small / 1000}k`] }),
    );
    const leaks = micro.joinLeave.flat().flatMap((r) => r.leaks.map((leak) => `N=${r.n}: ${leak}`));
    rows.at(-1).note = leaks.length ? `registries leaked: ${leaks.join('; ')}` : 'no registry changed size over the timed pairs';
    // Invoke start + settle: actorgate with 8k in flight against 100 in flight (columns a / b).
    if (micro.invokes?.length) {
      const invokesAt = (n) => micro.invokes.map((round) => round.find((r) => r.n === n)?.nsPerInvoke ?? NaN);
      const [few, many] = p.invokeSizes ?? [100, 8_000];
      rows.push(
        makeRow('invokes', `invoke start+settle (ns): ${many / 1000}k in flight / ${few}`, invokesAt(many), invokesAt(few), 0, 'lower', { op: '<=', value: 1.5 }, { columns: [`${many / 1000}k`, `${few}`] }),
      );
      const invokeLeaks = micro.invokes.flat().flatMap((r) => r.leaks);
      rows.at(-1).note = invokeLeaks.length ? `invokes leaked: ${invokeLeaks.join('; ')}` : 'every timed invoke settled and was forgotten';
    }
    const ed = (key) => micro.ed25519.map((round) => round[key]);
    rows.push(makeRow('ed25519', 'Ed25519 verify/s, fresh key (JWK): node:crypto / noble', ed('nodeFreshKey'), ed('noble'), 0, 'higher', undefined, { columns: ['node', 'noble'] }));
    rows.push(makeRow('ed25519.der', '  node:crypto, key imported as DER SPKI / noble', ed('nodeFreshKeyDer'), ed('noble'), 0, 'higher', undefined, { columns: ['node', 'noble'] }));
    rows.push(makeRow('ed25519.cached', '  node:crypto, cached KeyObject / noble', ed('nodeCachedKey'), ed('noble'), 0, 'higher', undefined, { columns: ['node', 'noble'] }));
    // The scan every inbound frame gets before it is parsed, against decoding and parsing it (columns a / b).
    for (const name of Object.keys(micro.frameScan?.[0] ?? {})) {
      const scan = micro.frameScan.map((round) => round[name].scanNs);
      const parse = micro.frameScan.map((round) => round[name].parseNs);
      const bytes = micro.frameScan[0][name].bytes;
      rows.push(makeRow(`framescan.${name}`, `frame scan / toString+JSON.parse (ns): ${name}, ${bytes} B`, scan, parse, 0, 'lower', undefined, { columns: ['scan', 'parse'] }));
    }
    rows.push(makeRow('ed25519.proof', '  whole device-proof check/s: node / noble', ed('proofNode'), ed('proofNoble'), 0, 'higher', undefined, { columns: ['node', 'noble'] }));
  }
  return rows;
}

const targetText = (target) => (target ? `${target.op} ${target.value}${target.absolute ? ' abs' : 'x'}` : '');
const resultText = (row) => (row.pass === undefined ? '' : row.pass ? 'pass' : 'MISS');

/** The table as text lines. */
export function renderTable(rows, { reference }) {
  const w = { label: 58, num: 11, ratio: 7, target: 9 };
  const head = [
    'metric'.padEnd(w.label),
    'actorgate'.padStart(w.num),
    'bare ws'.padStart(w.num),
    'ag/bare'.padStart(w.ratio),
    'target'.padStart(w.target),
    'result',
  ];
  if (reference) head.push('reference'.padStart(w.num), 'ag/ref'.padStart(w.ratio));
  const lines = [`  ${head.join(' | ')}`, `  ${head.map((h) => '-'.repeat(h.length)).join('-|-')}`];
  for (const row of rows) {
    const cells = [
      row.label.padEnd(w.label),
      formatNumber(row.a, row.digits).padStart(w.num),
      formatNumber(row.b, row.digits).padStart(w.num),
      formatNumber(row.ratio, 2).padStart(w.ratio),
      targetText(row.target).padStart(w.target),
      resultText(row).padEnd(6),
    ];
    if (reference) {
      cells.push(
        (row.reference === undefined ? '' : formatNumber(row.reference, row.digits)).padStart(w.num),
        (row.reference === undefined ? '' : formatNumber(row.actorgateOverReference, 2)).padStart(w.ratio),
      );
    }
    lines.push(`  ${cells.join(' | ')}`);
  }
  return lines;
}

/** The ratios with targets (and the CPU ratios) as a horizontal bar chart, SVG text. */
export function renderSvg(rows, { title, subtitle }) {
  // Indented rows (CPU per handshake, p99, ...) are named after the row they belong to.
  let parent = '';
  const named = rows.map((row) => {
    if (!row.label.startsWith(' ')) parent = row.label.replace(/ \(.*\)$/, '').replace(/: p50$/, '');
    return { ...row, chartLabel: row.label.startsWith(' ') ? `${parent}: ${row.label.trim()}` : row.label };
  });
  const shown = named.filter((row) => Number.isFinite(row.ratio) && (row.target ? !row.target.absolute : /cpu/.test(row.id)));
  const left = 430;
  const width = 960;
  const barArea = width - left - 90;
  const rowHeight = 26;
  const top = 64;
  const height = top + shown.length * rowHeight + 40;
  const maxRatio = Math.min(6, Math.max(2.5, ...shown.map((row) => row.ratio), ...shown.map((row) => row.target?.value ?? 0)) * 1.05);
  const x = (value) => left + (Math.min(value, maxRatio) / maxRatio) * barArea;
  const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`,
    `<text x="12" y="42" fill="#555">${escape(subtitle)}</text>`,
  ];
  for (let tick = 0; tick <= maxRatio + 1e-9; tick += 0.5) {
    parts.push(`<line x1="${x(tick)}" y1="${top - 6}" x2="${x(tick)}" y2="${height - 30}" stroke="${tick === 1 ? '#888' : '#e4e4e4'}"/>`);
    parts.push(`<text x="${x(tick)}" y="${height - 14}" text-anchor="middle" fill="#555">${tick}x</text>`);
  }
  shown.forEach((row, i) => {
    const y = top + i * rowHeight;
    const color = row.pass === undefined ? '#8aa4c8' : row.pass ? '#4c9a5b' : '#c8553d';
    parts.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end" font-size="11">${escape(row.chartLabel.trim())}</text>`);
    parts.push(`<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(row.ratio) - left)}" height="${rowHeight - 9}" fill="${color}"/>`);
    parts.push(`<text x="${x(row.ratio) + 4}" y="${y + 15}">${row.ratio.toFixed(2)}${row.ratio > maxRatio ? ' (off scale)' : ''}</text>`);
    if (row.target) {
      parts.push(`<line x1="${x(row.target.value)}" y1="${y + 1}" x2="${x(row.target.value)}" y2="${y + rowHeight - 2}" stroke="#000" stroke-width="2" stroke-dasharray="3,2"/>`);
    }
  });
  parts.push(`<text x="${width - 12}" y="${height - 14}" text-anchor="end" fill="#555">dashed: target; green pass, red miss, blue no target</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export function writeFile(path, text) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
