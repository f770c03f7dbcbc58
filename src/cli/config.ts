// `actorgate start`'s settings: its flags, then ACTORGATE_* environment variables, then the defaults, all
// from the one options table (src/gateway/options.ts).
import { parseArgs } from 'node:util';
import { OptionError, envName, flagName, flaggedOptions, resolveOptions, type GatewayOptions, type ResolvedOptions } from '../config/options.js';

/** A flag, a variable or a combination of them that cannot be served with. */
export { OptionError as ConfigError };

type ParseArgsOptions = Record<string, { type: 'string' | 'boolean' }>;

/** The gateway's options from `actorgate start`'s arguments and the environment; flags win over variables. */
export function parseStartConfig(argv: string[], env: NodeJS.ProcessEnv): ResolvedOptions {
  const flagged = flaggedOptions();
  const parseOptions: ParseArgsOptions = Object.fromEntries(
    flagged.map(({ flag, option }) => [flag, { type: option.placeholder === undefined ? 'boolean' : 'string' }]),
  );
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options: parseOptions, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new OptionError((error as Error).message);
  }
  const given: Record<string, unknown> = {};
  for (const { name, flag, option } of flagged) {
    const fromFlag = values[flag];
    const fromEnv = env[envName(flag)];
    if (fromFlag !== undefined && fromFlag !== '') {
      given[name] = typeof fromFlag === 'boolean' ? fromFlag : option.fromText(fromFlag, `--${flag}`);
    } else if (fromEnv !== undefined && fromEnv !== '') {
      given[name] = option.fromText(fromEnv, envName(flag));
    } else if (option.cliDefault) {
      given[name] = option.cliDefault();
    }
  }
  return resolveOptions(given as GatewayOptions, flagName);
}
