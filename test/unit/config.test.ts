import { describe, expect, it } from 'vitest';
import { ConfigError, parseStartConfig } from '../../src/config.js';

describe('start configuration', () => {
  it('uses the embedded defaults', () => {
    const config = parseStartConfig([], {});
    expect(config).toMatchObject({ host: '127.0.0.1', port: 18789, auth: 'token', handshakeTimeoutMs: 10_000, tickIntervalMs: 30_000 });
    expect(config.token).toBeUndefined();
  });

  it('reads ACTORGATE_* variables and lets flags win over them', () => {
    const env = { ACTORGATE_PORT: '19000', ACTORGATE_TOKEN: 'from-env', ACTORGATE_HANDSHAKE_TIMEOUT_MS: '2500' };
    expect(parseStartConfig([], env)).toMatchObject({ port: 19000, token: 'from-env', handshakeTimeoutMs: 2500 });
    expect(parseStartConfig(['--port', '19001', '--token', 'flag'], env)).toMatchObject({ port: 19001, token: 'flag' });
  });

  it('refuses bad values with a clear message', () => {
    expect(() => parseStartConfig(['--port', 'abc'], {})).toThrow(ConfigError);
    expect(() => parseStartConfig(['--port', 'abc'], {})).toThrow('--port must be an integer from 0 to 65535, got "abc"');
    expect(() => parseStartConfig(['--auth', 'magic'], {})).toThrow('--auth must be one of none, token, password');
    expect(() => parseStartConfig(['--auth', 'password'], {})).toThrow('needs --password');
    expect(() => parseStartConfig(['--bogus'], {})).toThrow(ConfigError);
  });
});
