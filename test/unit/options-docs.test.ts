// One options table (src/config/options.ts) for createGateway, `actorgate start`'s flags and variables,
// its usage, and the README's configuration table.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseStartConfig } from '../../src/cli/config.js';
import { usage } from '../../src/cli/usage.js';
import { OPTION_NAMES, OPTIONS, envName, flaggedOptions, resolveOptions } from '../../src/config/options.js';
import { OPTIONS_BEGIN, OPTIONS_END, optionsMarkdown, withOptionsTable } from '../../src/config/readme.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('the options table', () => {
  it('is the README\'s configuration table, as `npm run docs` writes it', () => {
    expect(README.indexOf(OPTIONS_BEGIN)).toBeGreaterThan(0);
    // Stale? Run `npm run docs` and commit README.md.
    expect(withOptionsTable(README)).toBe(README);
    for (const name of OPTION_NAMES) expect(optionsMarkdown()).toContain(`| \`${name}\` |`);
    expect(README.slice(README.indexOf(OPTIONS_BEGIN), README.indexOf(OPTIONS_END)).split('\n').filter((line) => /^\| `\w+` \|/.test(line))).toHaveLength(
      OPTION_NAMES.length,
    );
  });

  it('gives every flag to the CLI, with its variable, in the usage', () => {
    const text = usage();
    for (const { flag } of flaggedOptions()) {
      expect(text).toContain(`--${flag}`);
      expect(text).toContain(envName(flag));
    }
  });

  it('has the same defaults for createGateway and actorgate start, but for the state dir', () => {
    const library = resolveOptions({});
    const cli = parseStartConfig([], {});
    for (const name of OPTION_NAMES) {
      if (name === 'stateDir') continue;
      expect(cli[name], name).toEqual(library[name]);
    }
    expect(library.stateDir).toBeUndefined();
    expect(cli.stateDir).toMatch(/\.actorgate$/);
  });

  it('takes every flagged option from its flag and from its variable, the flag winning', () => {
    // A value other than the default for each option (its text on the command line), and another for the variable.
    const samples: Record<string, [string, string]> = {
      host: ['127.0.0.2', '127.0.0.3'],
      auth: ['none', 'password'],
      token: ['flag-token', 'env-token'],
      password: ['flag-password', 'env-password'],
      stateDir: ['/tmp/flag-state', '/tmp/env-state'],
      logLevel: ['debug', 'warn'],
      pairing: ['manual', 'auto-local'],
      trustedProxies: ['10.0.0.1', '10.0.0.2'],
      allowedOrigins: ['https://a.example.com', 'https://b.example.com'],
    };
    for (const { name, flag, option } of flaggedOptions()) {
      if (option.placeholder === undefined) {
        expect(parseStartConfig([`--${flag}`], {})[name], name).toBe(true);
        expect(parseStartConfig([], { [envName(flag)]: '1' })[name], name).toBe(true);
        continue;
      }
      const base = OPTIONS[name].default;
      const [fromFlag, fromEnv] = samples[name] ?? [String(Number(base) + 2), String(Number(base) + 1)];
      // The watermarks must stay ordered: give the others room.
      const room = name.endsWith('WaterBytes') ? ['--max-buffered-bytes', String(2 ** 30)] : [];
      const env = { [envName(flag)]: fromEnv, ...(name === 'auth' ? { ACTORGATE_PASSWORD: 'p' } : {}) };
      expect(String(parseStartConfig([...room], env)[name]), name).toBe(fromEnv);
      expect(String(parseStartConfig([`--${flag}`, fromFlag, ...room], env)[name]), name).toBe(fromFlag);
    }
  });
});
