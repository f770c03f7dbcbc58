// A healthy client in a process of its own, for the tests that attack a gateway: every `intervalMs` a fresh
// socket's handshake (open, challenge, connect, hello-ok) and a `health` round trip on it, each timed on this
// process's clock, so what the attack costs the test process does not count. Each round's start (epoch ms) is
// reported with it, so a test can tell the rounds before an attack from those during it. Started by
// test/helpers/attack-gateway.ts with the gateway's url and token as arguments; on the message 'stop' it
// sends back what it measured and exits.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const [url, token, intervalArg] = process.argv.slice(2);
const intervalMs = Number(intervalArg ?? 200);
const startedAt = [];
const handshakeMs = [];
const healthMs = [];
const failures = [];
let running = true;

/** Resolves with the first frame that matches, rejects on close or after `timeoutMs`. */
function next(ws, frames, predicate, timeoutMs) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const index = frames.findIndex(predicate);
      if (index < 0) return false;
      cleanup();
      resolve(frames.splice(index, 1)[0]);
      return true;
    };
    const onMessage = () => check();
    const onClose = (code) => {
      cleanup();
      reject(new Error(`closed ${code}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      ws.off('message', onMessage);
      ws.off('close', onClose);
    };
    ws.on('message', onMessage);
    ws.on('close', onClose);
    check();
  });
}

async function round(n) {
  const started = performance.now();
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const frames = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  ws.on('error', () => {});
  try {
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    await next(ws, frames, (frame) => frame.event === 'connect.challenge', 10_000);
    const params = {
      minProtocol: 3,
      maxProtocol: 4,
      client: { id: 'healthy', version: '1.0.0', platform: 'linux', mode: 'test', instanceId: randomUUID() },
      role: 'operator',
      scopes: ['operator.read'],
      auth: { token },
    };
    ws.send(JSON.stringify({ type: 'req', id: `c${n}`, method: 'connect', params }));
    const hello = await next(ws, frames, (frame) => frame.type === 'res' && frame.id === `c${n}`, 10_000);
    if (hello.ok !== true) throw new Error(`connect refused: ${JSON.stringify(hello.error)}`);
    startedAt.push(Date.now() - (performance.now() - started));
    handshakeMs.push(performance.now() - started);
    const asked = performance.now();
    ws.send(JSON.stringify({ type: 'req', id: `h${n}`, method: 'health' }));
    const health = await next(ws, frames, (frame) => frame.type === 'res' && frame.id === `h${n}`, 10_000);
    if (health.ok !== true) throw new Error(`health refused: ${JSON.stringify(health.error)}`);
    healthMs.push(performance.now() - asked);
  } catch (error) {
    failures.push(`round ${n}: ${error.message}`);
  } finally {
    ws.terminate();
  }
}

process.on('message', (message) => {
  if (message === 'stop') running = false;
});

let rounds = 0;
process.send({ ready: true });
while (running) {
  const started = performance.now();
  await round(rounds++);
  const rest = intervalMs - (performance.now() - started);
  if (rest > 0 && running) await new Promise((resolve) => setTimeout(resolve, rest));
}
process.send({ startedAt, handshakeMs, healthMs, failures }, () => process.exit(0));
