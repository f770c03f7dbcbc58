// The real `openclaw` CLI (2026.9.6) against actorgate: `gateway call health` and `system-presence`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { ensureOpenclaw, openclaw } from './openclaw.js';

let gw: TestGateway;
beforeAll(async () => {
  ensureOpenclaw();
  gw = await startTestGateway();
});
afterAll(async () => gw?.close());

describe('openclaw gateway call', () => {
  it('health succeeds and prints the gateway health payload', async () => {
    const result = await openclaw(['gateway', 'call', 'health', '--url', gw.url, '--token', gw.token, '--json']);
    console.log(`openclaw gateway call health -> exit ${result.code}\n${result.stdout}`);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, version: '0.1.0' });
    const ready = await gw.logs.waitFor((line) => line.msg === 'handshake complete' && line.clientId === 'cli');
    expect(ready.protocol).toBe(4);
  });

  it('system-presence succeeds and lists the gateway itself', async () => {
    const result = await openclaw(['gateway', 'call', 'system-presence', '--url', gw.url, '--token', gw.token, '--json']);
    console.log(`openclaw gateway call system-presence -> exit ${result.code}\n${result.stdout}`);
    expect(result.code).toBe(0);
    const presence = JSON.parse(result.stdout) as { reason?: string }[];
    expect(presence.some((entry) => entry.reason === 'self')).toBe(true);
  });

  it('a wrong token fails with the gateway reason and a non-zero exit', async () => {
    const result = await openclaw(['gateway', 'call', 'health', '--url', gw.url, '--token', 'wrong-token', '--json']);
    console.log(`openclaw gateway call health (wrong token) -> exit ${result.code}\n${result.stdout}${result.stderr}`);
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/token mismatch|AUTH_TOKEN_MISMATCH/);
  });
});
