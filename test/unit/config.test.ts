import { describe, expect, it } from 'vitest';
import { ConfigError, parseStartConfig } from '../../src/cli/config.js';

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
    expect(parseStartConfig([], {})).toMatchObject({ pairing: 'auto-local', pairingTtlMs: 300_000 });
    const env = { ACTORGATE_PAIRING: 'manual', ACTORGATE_PAIRING_TTL_MS: '60000' };
    expect(parseStartConfig([], env)).toMatchObject({ pairing: 'manual', pairingTtlMs: 60_000 });
    expect(parseStartConfig(['--pairing', 'auto-local', '--pairing-ttl-ms', '5000'], env)).toMatchObject({
      pairing: 'auto-local',
      pairingTtlMs: 5_000,
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

describe('hardening configuration', () => {
  it('defaults: 10000 connections, 30 refused calls per 60 s, 64 KiB / 16 KiB / 50 MiB buffers, pings every 30 s, 5 s to exit', () => {
    const config = parseStartConfig([], {});
    expect(config).toMatchObject({
      maxConnections: 10_000,
      unauthorizedCallLimit: 30,
      unauthorizedCallWindowMs: 60_000,
      highWaterBytes: 65_536,
      lowWaterBytes: 16_384,
      maxBufferedBytes: 52_428_800,
    });
    expect(config).toMatchObject({ pingIntervalMs: 30_000, shutdownTimeoutMs: 5_000, trustedProxies: [], presenceWindowMs: 10 });
    expect(parseStartConfig(['--presence-window-ms', '0'], {}).presenceWindowMs).toBe(0);
    expect(parseStartConfig([], { ACTORGATE_PRESENCE_WINDOW_MS: '200' }).presenceWindowMs).toBe(200);
    expect(() => parseStartConfig(['--presence-window-ms', '-1'], {})).toThrow(ConfigError);
  });

  it('reads every flag and its ACTORGATE_* variable, flags winning', () => {
    const env = {
      ACTORGATE_MAX_CONNECTIONS: '500',
      ACTORGATE_TRUSTED_PROXIES: '10.0.0.5, 10.1.0.0/16,::1',
      ACTORGATE_UNAUTHORIZED_CALL_LIMIT: '5',
      ACTORGATE_UNAUTHORIZED_CALL_WINDOW_MS: '10000',
      ACTORGATE_HIGH_WATER_BYTES: '65536',
      ACTORGATE_LOW_WATER_BYTES: '16384',
      ACTORGATE_MAX_BUFFERED_BYTES: '1048576',
      ACTORGATE_PING_INTERVAL_MS: '0',
      ACTORGATE_SHUTDOWN_TIMEOUT_MS: '2000',
    };
    const fromEnv = parseStartConfig([], env);
    expect(fromEnv).toMatchObject({
      maxConnections: 500,
      unauthorizedCallLimit: 5,
      unauthorizedCallWindowMs: 10_000,
      highWaterBytes: 65_536,
      lowWaterBytes: 16_384,
      maxBufferedBytes: 1_048_576,
    });
    expect(fromEnv).toMatchObject({ pingIntervalMs: 0, shutdownTimeoutMs: 2_000, trustedProxies: ['10.0.0.5', '10.1.0.0/16', '::1'] });
    const flags = ['--max-connections', '0', '--trusted-proxies', '192.168.1.1', '--ping-interval-ms', '15000', '--unauthorized-call-limit', '0'];
    expect(parseStartConfig(flags, env)).toMatchObject({
      maxConnections: 0, unauthorizedCallLimit: 0,
      pingIntervalMs: 15_000,
      trustedProxies: ['192.168.1.1'],
    });
  });

  it('refuses bad values with a clear message', () => {
    expect(() => parseStartConfig(['--trusted-proxies', '10.0.0.1,proxy.internal'], {})).toThrow(
      '--trusted-proxies takes IP addresses and CIDR ranges, comma-separated; "proxy.internal" is neither',
    );
    expect(() => parseStartConfig(['--trusted-proxies', '10.0.0.0/33'], {})).toThrow(ConfigError);
    expect(() => parseStartConfig(['--low-water-bytes', '2000000'], {})).toThrow(
      '--low-water-bytes (2000000) must be below --high-water-bytes (65536), which must not exceed --max-buffered-bytes (52428800)',
    );
    expect(() => parseStartConfig(['--high-water-bytes', '60000000'], {})).toThrow(ConfigError);
    expect(() => parseStartConfig(['--max-connections=-1'], {})).toThrow('--max-connections must be an integer from 0 to 10000000, got "-1"');
    expect(() => parseStartConfig(['--shutdown-timeout-ms', '10'], {})).toThrow(ConfigError);
    expect(() => parseStartConfig(['--ping-interval-ms', 'often'], {})).toThrow(ConfigError);
  });

  it('reads the node command policy as comma-separated globs, from flags or ACTORGATE_NODE_COMMANDS_*', () => {
    const flags = parseStartConfig(['--node-commands-deny', 'system.run*, browser.*', '--node-commands-allow', '*'], {});
    expect(flags).toMatchObject({ nodeCommandsDeny: ['system.run*', 'browser.*'], nodeCommandsAllow: ['*'] });
    const env = parseStartConfig([], { ACTORGATE_NODE_COMMANDS_DENY: 'fs.listDir,terminal.upload' });
    expect(env).toMatchObject({ nodeCommandsDeny: ['fs.listDir', 'terminal.upload'], nodeCommandsAllow: [] });
    expect(() => parseStartConfig(['--node-commands-deny', 'system run'], {})).toThrow(
      '--node-commands-deny takes command patterns (e.g. "system.*"), comma-separated; "system run" is not one',
    );
  });
});
