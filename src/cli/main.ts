// The `actorgate` command line.
import { runStart } from './start.js';
import { runDiagnose } from './diagnose/command.js';
import { ConfigError, parseStartConfig } from './config.js';
import { ListenError } from './gateway.js';
import { JsonFileStoreError } from './store/json-file-store.js';
import { GATEWAY_VERSION } from './version.js';

const USAGE = `actorgate ${GATEWAY_VERSION}: a WebSocket gateway for agents and their clients (OpenClaw protocol 3-4)

Usage:
  actorgate start [options]     serve the gateway (default 127.0.0.1:18789, token auth)
  actorgate diagnose <log|->    diagnose connection failures from the gateway's JSON logs (--help)
  actorgate probe <ws-url> [--token T|--password P] [--device-key file] [--json] [--timeout ms]
                                connect once, time each phase, diagnose a failure (--help)
  actorgate --version

Options of start (each also settable as ACTORGATE_<NAME>, e.g. ACTORGATE_PORT):
  --host <addr>                 address to listen on (127.0.0.1)
  --port <n>                    port to listen on (18789; 0 picks a free one)
  --auth none|token|password    how clients authenticate (token)
  --token <secret>              gateway token; generated into the state dir on first start when absent
  --password <secret>           gateway password (with --auth password)
  --handshake-timeout-ms <n>    time a client has to complete connect (10000)
  --tick-interval-ms <n>        interval of the tick event (30000)
  --state-dir <dir>             where the gateway keeps its state (~/.actorgate)
  --log-level <level>           trace|debug|info|warn|error|fatal|silent (info)
  --pairing auto-local|manual   auto-local pairs loopback clients without a browser Origin silently;
                                manual asks an operator for every new device (auto-local)
  --pairing-ttl-ms <n>          how long a pairing request waits for an operator (300000)
  --inspect                     publish every actor's inspection events, secrets redacted, to a relay on
                                127.0.0.1 for the Stately inspector; open http://127.0.0.1:<inspect-port>
                                to watch (ACTORGATE_INSPECT=1)
  --inspect-port <n>            port of that relay, on 127.0.0.1 only (8080; 0 picks a free one)
  --max-preauth-per-address <n> sockets per client address still in their handshake; more get
                                HTTP 503 (32; 0 for no cap)
  --auth-max-failures <n>       failed authentications per address within the window that lock it
                                out (10; 0 turns the rate limit off)
  --auth-failure-window-ms <n>  the sliding window those failures are counted in (60000)
  --auth-lockout-ms <n>         how long a locked-out address is refused (300000)
  --auth-rate-limit-loopback    rate-limit loopback clients too; they are exempt by default
                                (ACTORGATE_AUTH_RATE_LIMIT_LOOPBACK=1)
  --max-connections <n>         sockets open at once from everyone; more get HTTP 503 (10000; 0 for no cap);
                                raw TCP connections are capped at this plus a tenth (at least 64)
  --trusted-proxies <list>      reverse proxies (addresses, CIDR ranges, comma-separated) whose
                                X-Forwarded-For names the client (none)
  --unauthorized-call-limit <n> requests refused for role or scope within the window; one more closes
                                the socket 1008 (30; 0 for no limit)
  --unauthorized-call-window-ms <n>  the window those refusals are counted in (60000)
  --presence-window-ms <n>      a lone presence change goes out at once; those within this window after
                                it go out as one frame, the newest, at its end; the window stretches
                                (up to 1 s) to keep a storm's fan-out under 32 MiB/s (10)
  --high-water-bytes <n>        buffered bytes above which presence is held, the newest only, until
                                the socket drains (65536)
  --low-water-bytes <n>         buffered bytes at or under which held frames are sent (16384)
  --max-buffered-bytes <n>      buffered bytes above which a peer is closed 1008 slow consumer (52428800)
  --ping-interval-ms <n>        ping every socket this often; a peer that misses a whole interval is
                                terminated (30000; 0 for no pings)
  --shutdown-timeout-ms <n>     after SIGINT/SIGTERM the process exits within this long (5000)
`;

/** Serves the gateway until a signal stops it. */
async function start(args: string[]): Promise<number> {
  try {
    const config = parseStartConfig(args, process.env);
    await runStart(config);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`actorgate: ${error.message}\n`);
      return 2;
    }
    // A state file it cannot read or an address it cannot listen on is the operator's to fix: say so, without a stack.
    if (error instanceof JsonFileStoreError || error instanceof ListenError) {
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
  probe: (args) => import('./probe/probe.js').then(({ runProbe }) => runProbe(args, process)),
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${GATEWAY_VERSION}\n`);
    return 0;
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 1 : 0;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) {
    process.stderr.write(`actorgate: unknown command "${command}"\n\n${USAGE}`);
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
