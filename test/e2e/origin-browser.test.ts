// The Origin policy in a real browser: headless Chromium opens a WebSocket to a gateway on 127.0.0.1 from a
// page of a foreign origin and from a page of the gateway's own origin. Pages are served by intercepting the
// navigation, so the page's origin is exactly the one named, whatever resolves it. The foreign page is an
// https one, as a real attacker's is: Chromium lets a secure public page ask for the local network (the
// permission is granted to the context), so the socket reaches the gateway and the gateway must refuse it.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const CHROMIUM = process.env.ACTORGATE_CHROMIUM ?? '/usr/bin/chromium';

let gw: TestGateway;
let browser: Browser;
beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does`);
  gw = await startTestGateway();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 60_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await gw?.close();
});

interface PageOutcome {
  response?: { ok: boolean; error?: { details?: { code?: string } } };
  close?: { code: number; reason: string };
}

/** Loads a blank page at `pageUrl` (served by interception) and runs a handshake from it in the browser. */
async function handshakeFrom(pageUrl: string): Promise<PageOutcome> {
  // The browser's own local-network permission is granted, so that what refuses a foreign page is the gateway.
  const context = await browser.newContext({ permissions: ['local-network-access'] });
  try {
    const page = await context.newPage();
    await page.route((url) => url.href === pageUrl, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>page</title>' }));
    await page.goto(pageUrl, { timeout: 30_000 });
    expect(await page.evaluate(() => (globalThis as unknown as { location: { origin: string } }).location.origin)).toBe(new URL(pageUrl).origin);
    return await page.evaluate(
      ({ url, token }) =>
        new Promise<PageOutcome>((resolve) => {
          const outcome: PageOutcome = {};
          const ws = new WebSocket(url);
          ws.onmessage = (message) => {
            const frame = JSON.parse(String(message.data));
            if (frame.type === 'event' && frame.event === 'connect.challenge') {
              const client = { id: 'openclaw-control-ui', version: '1.0.0', platform: 'web', mode: 'ui' };
              ws.send(JSON.stringify({ type: 'req', id: 'c1', method: 'connect', params: { minProtocol: 3, maxProtocol: 4, client, role: 'operator', scopes: ['operator.read'], auth: { token } } }));
            } else if (frame.type === 'res' && frame.id === 'c1') {
              outcome.response = { ok: frame.ok, error: frame.error };
              if (frame.ok) {
                ws.close(1000);
              }
            }
          };
          ws.onclose = (event) => {
            outcome.close = { code: event.code, reason: event.reason };
            resolve(outcome);
          };
        }),
      { url: gw.url, token: gw.token },
    );
  } finally {
    await context.close();
  }
}

describe('browser origins in headless Chromium', () => {
  it('a page from another origin cannot complete a handshake with the gateway on 127.0.0.1', async () => {
    const outcome = await handshakeFrom('https://evil.example.com/');
    expect(outcome.response).toMatchObject({ ok: false, error: { details: { code: 'CONTROL_UI_ORIGIN_NOT_ALLOWED' } } });
    expect(outcome.close).toEqual({ code: 1008, reason: 'origin not allowed' });
    // The gateway refused it (not the browser): its log names the page's origin's refusal.
    await gw.logs.waitFor((line) => line.msg === 'handshake rejected' && line.detail === 'CONTROL_UI_ORIGIN_NOT_ALLOWED');
  });

  it("a page from the gateway's own origin can", async () => {
    const own = `${new URL(gw.url.replace(/^ws/, 'http')).origin}/console`;
    const outcome = await handshakeFrom(own);
    expect(outcome.response?.ok).toBe(true);
    expect(outcome.close?.code).toBe(1000);
  });
});
