// `actorgate diagnose <log file | ->`: the troubleshooting guide's diagnosis of a gateway's JSON logs.
import { parseArgs } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from './aggregate.js';
import type { Severity } from './diagnosis.js';
import { diagnoseFile, diagnoseStream } from './read.js';
import { renderJson } from './render-json.js';
import { renderTable } from './render-table.js';

export const DIAGNOSE_USAGE = `Usage: actorgate diagnose <log file | -> [options]

Reads actorgate's JSON logs (one pino object per line; other lines are skipped) from a file, or from
stdin with -, and prints connections by outcome, close codes, handshake durations, timeouts, closes
before connect, auth and device failures, top addresses, and one line of advice per finding.

Options of diagnose:
  --json                        print the diagnosis as JSON instead of tables
  --handshake-timeout-ms <n>    the gateway's handshake timeout, for the duration buckets (when not
                                given: as logged, else inferred from the shortest handshake timeout
                                in the log, else ${DEFAULT_HANDSHAKE_TIMEOUT_MS})
  --fail-on warn|error          exit 3 when a finding of that severity or worse is found

Exit status: 0 when the logs were read (whatever they show), 3 with --fail-on and a finding at that
level, 1 when the log cannot be read, 2 on a usage error.
`;

export const EXIT_FINDINGS = 3;

export interface CommandIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

class UsageError extends Error {}

interface DiagnoseArgs {
  source: string;
  json: boolean;
  handshakeTimeoutMs?: number;
  failOn?: Exclude<Severity, 'info'>;
}

function parseDiagnoseArgs(argv: string[]): DiagnoseArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        'handshake-timeout-ms': { type: 'string' },
        'fail-on': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'diagnose needs a log file, or - for stdin' : `diagnose reads one log, got ${positionals.length}`);
  }
  const args: DiagnoseArgs = { source: positionals[0]!, json: values.json ?? false };
  const timeout = values['handshake-timeout-ms'];
  if (timeout !== undefined) {
    const ms = Number(timeout);
    if (!Number.isInteger(ms) || ms < 1) throw new UsageError(`--handshake-timeout-ms must be a positive integer, got "${timeout}"`);
    args.handshakeTimeoutMs = ms;
  }
  const failOn = values['fail-on'];
  if (failOn !== undefined) {
    if (failOn !== 'warn' && failOn !== 'error') throw new UsageError(`--fail-on must be warn or error, got "${failOn}"`);
    args.failOn = failOn;
  }
  return args;
}

export async function runDiagnose(argv: string[], io: CommandIo): Promise<number> {
  let args;
  try {
    args = parseDiagnoseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`actorgate: ${error.message}\n\n${DIAGNOSE_USAGE}`);
    return 2;
  }
  if (args === 'help') {
    io.stdout.write(DIAGNOSE_USAGE);
    return 0;
  }
  const options = args.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: args.handshakeTimeoutMs } : {};
  let diagnosis;
  try {
    diagnosis = args.source === '-' ? await diagnoseStream(io.stdin, options) : await diagnoseFile(args.source, options);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    io.stderr.write(`actorgate: cannot read ${args.source === '-' ? 'stdin' : args.source}: ${code ?? (error as Error).message}\n`);
    return 1;
  }
  const source = args.source === '-' ? 'stdin' : args.source;
  io.stdout.write(args.json ? renderJson(diagnosis, source) : renderTable(diagnosis, source));
  const failing = args.failOn === 'warn' ? ['warn', 'error'] : args.failOn === 'error' ? ['error'] : [];
  return diagnosis.findings.some((finding) => failing.includes(finding.severity)) ? EXIT_FINDINGS : 0;
}
