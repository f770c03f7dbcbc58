// The `actorgate` command line.
import { GatewayError } from '../errors.js';
import { runDiagnose } from '../observability/diagnose/command.js';
import { JsonFileStoreError } from '../store/json-file-store.js';
import { GATEWAY_VERSION } from '../version.js';
import { parseStartConfig } from './config.js';
import { runStart } from './start.js';
import { usage } from './usage.js';

/** Serves the gateway until a signal stops it. */
async function start(args: string[]): Promise<number> {
  try {
    const config = parseStartConfig(args, process.env);
    await runStart(config);
    return 0;
  } catch (error) {
    if (error instanceof GatewayError && error.code === 'ERR_INVALID_OPTION') {
      process.stderr.write(`actorgate: ${error.message}\n`);
      return 2;
    }
    // A state file it cannot read or an address it cannot listen on is the operator's to fix: say so, without a stack.
    if (error instanceof JsonFileStoreError || (error instanceof GatewayError && error.code === 'ERR_LISTEN')) {
      process.stderr.write(`actorgate: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/** Each subcommand takes the arguments after its name and resolves with the exit status. */
const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  start,
  diagnose: (args) => runDiagnose(args, process),
  probe: (args) => import('../observability/probe/probe.js').then(({ runProbe }) => runProbe(args, process)),
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${GATEWAY_VERSION}\n`);
    return 0;
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage());
    return command === undefined ? 1 : 0;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) {
    process.stderr.write(`actorgate: unknown command "${command}"\n\n${usage()}`);
    return 2;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`actorgate: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
