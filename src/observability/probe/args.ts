// `actorgate probe <url> [--token T|--password P] [--device-key file] [--json] [--timeout ms]`
export interface ProbeArgs {
  url: string;
  token?: string;
  password?: string;
  deviceKey?: string;
  json: boolean;
  timeoutMs: number;
}

export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;

export const PROBE_USAGE = `Usage: actorgate probe <ws-url> [--token T | --password P] [--device-key file] [--json] [--timeout ms]
  Connects once, reports how long each phase took (TCP+upgrade, challenge, hello-ok) and the
  negotiated protocol; on failure the close code and reason and the likely root cause.
  --token <T>, --password <P>   the gateway's shared secret
  --device-key <file>           sign the connect with this device key (JSON, base64url; created 0600 when missing)
  --json                        one JSON object on stdout instead of text
  --timeout <ms>                deadline for the whole handshake (10000)
  Exit status: 0 connected, 1 did not connect, 2 usage error.
`;

export class ProbeUsageError extends Error {}

const VALUE_FLAGS = new Set(['--token', '--password', '--device-key', '--timeout']);

export function parseProbeArgs(argv: readonly string[]): ProbeArgs {
  const values = new Map<string, string>();
  const positional: string[] = [];
  let json = false;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--json') json = true;
    else if (VALUE_FLAGS.has(flag)) {
      const value = inline ?? argv[++index];
      if (value === undefined || value === '') throw new ProbeUsageError(`${flag} needs a value`);
      values.set(flag, value);
    } else if (flag.startsWith('-')) throw new ProbeUsageError(`unknown option ${flag}`);
    else positional.push(arg);
  }
  if (positional.length !== 1) throw new ProbeUsageError(positional.length === 0 ? 'a gateway URL is required' : 'only one URL, please');
  const url = positional[0]!;
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new ProbeUsageError(`not a URL: ${url}`);
  }
  if (protocol !== 'ws:' && protocol !== 'wss:') throw new ProbeUsageError(`the URL must be ws:// or wss://, not ${protocol}//`);
  if (values.has('--token') && values.has('--password')) throw new ProbeUsageError('give --token or --password, not both');
  const timeoutText = values.get('--timeout');
  const timeoutMs = timeoutText === undefined ? DEFAULT_PROBE_TIMEOUT_MS : Number(timeoutText);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new ProbeUsageError(`--timeout must be a positive whole number of ms, not ${timeoutText}`);
  return {
    url,
    json,
    timeoutMs,
    ...(values.has('--token') ? { token: values.get('--token')! } : {}),
    ...(values.has('--password') ? { password: values.get('--password')! } : {}),
    ...(values.has('--device-key') ? { deviceKey: values.get('--device-key')! } : {}),
  };
}
