// `actorgate --help`: the commands, and every option of start from the options table.
import { defaultText, envName, flaggedOptions } from '../config/options.js';
import { GATEWAY_VERSION } from '../version.js';

const WIDTH = 100;
const COLUMN = 32;

/** `text` in lines that fit the doc column. */
function wrap(text: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line.length > 0 && line.length + 1 + word.length > WIDTH - COLUMN) {
      lines.push(line);
      line = word;
    } else {
      line = line.length > 0 ? `${line} ${word}` : word;
    }
  }
  lines.push(line);
  return lines;
}

/** A flag and its doc: the doc beside the flag, or under it when the flag is too long. */
function entry(head: string, doc: string): string {
  const indent = ' '.repeat(COLUMN);
  const [first = '', ...rest] = wrap(doc);
  const lines = head.length < COLUMN ? [head.padEnd(COLUMN) + first] : [head, indent + first];
  return [...lines, ...rest.map((line) => indent + line)].join('\n');
}

export function usage(): string {
  const options = flaggedOptions().map(({ flag, option }) => {
    const head = `  --${flag}${option.placeholder ? ` ${option.placeholder}` : ''}`;
    return entry(head, `${option.doc} (${defaultText(option)}; ${envName(flag)})`);
  });
  return `actorgate ${GATEWAY_VERSION}: a WebSocket gateway for agents and their clients (OpenClaw protocol 3-4)

Usage:
  actorgate start [options]     serve the gateway (default 127.0.0.1:18789, token auth)
  actorgate diagnose <log|->    diagnose connection failures from the gateway's JSON logs (--help)
  actorgate probe <ws-url> [--token T|--password P] [--device-key file] [--json] [--timeout ms]
                                connect once, time each phase, diagnose a failure (--help)
  actorgate --version

Options of start (each also settable as its ACTORGATE_* variable; flags win):
${options.join('\n')}
`;
}
