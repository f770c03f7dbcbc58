// The browser Origin policy over real sockets: which pages get a handshake, what the others are told,
// and that failed authentications from a page are rate-limited even on loopback.
import { afterEach, describe, expect, it } from 'vitest';
import { connectParams, TestClient, type Frame } from '../helpers/client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { GatewayOptions } from '../../src/config/options.js';

let gw: TestGateway | undefined;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await gw?.close();
  gw = undefined;
});

async function start(options: GatewayOptions = {}) {
  gw = await startTestGateway(options);
  return gw;
}

/** A connect from a page of `origin` (no Origin header when undefined); the response, and the close when refused. */
async function connectFrom(origin: string | undefined, token = gw!.token): Promise<{ response: Frame; closed?: { code: number; reason: string } }> {
  const client = await TestClient.open(gw!.url, origin === undefined ? {} : { Origin: origin });
  clients.push(client);
  await client.challenge();
  const response = await client.request('connect', connectParams({ auth: { token } }));
  return response.ok ? { response } : { response, closed: await client.closed };
}

const detailOf = (frame: Frame) => (frame.error as { details?: { code?: string } } | undefined)?.details?.code;

describe('browser origins', () => {
  it('refuses a foreign page with CONTROL_UI_ORIGIN_NOT_ALLOWED and close 1008, and logs it', async () => {
    await start();
    const { response, closed } = await connectFrom('http://evil.example.com');
    expect(response.error).toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringMatching(/^origin not allowed/),
      details: { code: 'CONTROL_UI_ORIGIN_NOT_ALLOWED', reason: 'origin not allowed' },
    });
    expect(closed).toEqual({ code: 1008, reason: 'origin not allowed' });
    const log = await gw!.logs.waitFor((line) => line.detail === 'CONTROL_UI_ORIGIN_NOT_ALLOWED');
    expect(log).toMatchObject({ msg: 'handshake rejected', code: 1008 });
  });

  it("lets in clients without an Origin, the gateway's own pages, loopback pages and listed origins", async () => {
    await start({ allowedOrigins: ['https://app.example.com'] });
    const own = new URL(gw!.url.replace(/^ws/, 'http')).origin;
    for (const origin of [undefined, own, 'http://localhost:5173', 'https://app.example.com']) {
      expect((await connectFrom(origin)).response.ok, String(origin)).toBe(true);
    }
    expect(detailOf((await connectFrom('https://other.example.com')).response)).toBe('CONTROL_UI_ORIGIN_NOT_ALLOWED');
  });

  it('lets every page in with --allowed-origins *', async () => {
    await start({ allowedOrigins: ['*'] });
    expect((await connectFrom('http://evil.example.com')).response.ok).toBe(true);
  });

  it('locks out a page guessing the token from loopback, while loopback clients without an Origin stay exempt', async () => {
    await start({ authMaxFailures: 3 });
    const page = 'http://localhost:5173';
    for (let attempt = 0; attempt < 3; attempt++) {
      expect(detailOf((await connectFrom(page, 'guess')).response)).toBe('AUTH_TOKEN_MISMATCH');
    }
    // The page is locked out, even with the right token now...
    expect(detailOf((await connectFrom(page)).response)).toBe('AUTH_RATE_LIMITED');
    const locked = await gw!.logs.waitFor((line) => line.event === 'auth.locked_out');
    expect(locked).toMatchObject({ origin: page });
    // ...but a local client that is not a browser is not: loopback is exempt for it, as before.
    for (let attempt = 0; attempt < 5; attempt++) {
      expect(detailOf((await connectFrom(undefined, 'wrong')).response)).toBe('AUTH_TOKEN_MISMATCH');
    }
    expect((await connectFrom(undefined)).response.ok).toBe(true);
  });
});
