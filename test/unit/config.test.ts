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

  it('sets pairing from --pairing and --pairing-ttl-ms, or ACTORGATE_PAIRING and ACTORGATE_PAIRING_TTL_MS', () => {
    expect(parseStartConfig([], {})).toMatchObject({ pairingMode: 'auto-local', pairingRequestTtlMs: 300_000 });
    const env = { ACTORGATE_PAIRING: 'manual', ACTORGATE_PAIRING_TTL_MS: '60000' };
    expect(parseStartConfig([], env)).toMatchObject({ pairingMode: 'manual', pairingRequestTtlMs: 60_000 });
    expect(parseStartConfig(['--pairing', 'auto-local', '--pairing-ttl-ms', '5000'], env)).toMatchObject({
      pairingMode: 'auto-local',
      pairingRequestTtlMs: 5_000,
    });
    expect(() => parseStartConfig(['--pairing', 'auto'], {})).toThrow('--pairing must be one of auto-local, manual, got "auto"');
    expect(() => parseStartConfig(['--pairing-ttl-ms', '10'], {})).toThrow('--pairing-ttl-ms must be an integer from 1000');
  });

  it('turns inspection on with --inspect or ACTORGATE_INSPECT, on port 8080 unless told otherwise', () => {
    expect(parseStartConfig([], {})).toMatchObject({ inspect: false, inspectPort: 8080 });
    expect(parseStartConfig(['--inspect'], {})).toMatchObject({ inspect: true, inspectPort: 8080 });
    expect(parseStartConfig([], { ACTORGATE_INSPECT: '1', ACTORGATE_INSPECT_PORT: '9229' })).toMatchObject({ inspect: true, inspectPort: 9229 });
    expect(parseStartConfig([], { ACTORGATE_INSPECT: 'true' }).inspect).toBe(true);
    expect(parseStartConfig([], { ACTORGATE_INSPECT: '0' }).inspect).toBe(false);
    expect(parseStartConfig([], { ACTORGATE_INSPECT: '' }).inspect).toBe(false);
    expect(parseStartConfig(['--inspect', '--inspect-port', '9000'], { ACTORGATE_INSPECT_PORT: '9229' }).inspectPort).toBe(9000);
    // 0: the system picks the relay's port, which start reports; both ports 0 pick two different ones.
    expect(parseStartConfig(['--inspect', '--inspect-port', '0'], {}).inspectPort).toBe(0);
    expect(parseStartConfig(['--inspect', '--inspect-port', '0', '--port', '0'], {})).toMatchObject({ inspectPort: 0, port: 0 });
  });

  it('refuses bad inspection settings', () => {
    expect(() => parseStartConfig([], { ACTORGATE_INSPECT: 'maybe' })).toThrow('ACTORGATE_INSPECT must be 1 or 0');
    expect(() => parseStartConfig(['--inspect', '--inspect-port=-1'], {})).toThrow('--inspect-port must be an integer from 0 to 65535, got "-1"');
    expect(() => parseStartConfig(['--inspect', '--inspect-port', '65536'], {})).toThrow('--inspect-port must be an integer from 0 to 65535');
    expect(() => parseStartConfig(['--inspect=yes'], {})).toThrow(ConfigError);
    expect(() => parseStartConfig(['--inspect', '--port', '8080'], {})).toThrow('--inspect-port and --port are both 8080');
    expect(parseStartConfig(['--port', '8080'], {}).port).toBe(8080);
  });
});
