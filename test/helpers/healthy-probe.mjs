// A healthy client in a process of its own, for tests that abuse a gateway: a `health` round trip on one ready
// socket every 200 ms, and a fresh handshake (then a clean close) every 500 ms, each timed. Its own process, so
// that what it measures is the gateway's answer and not the test process's own load.
// Usage (forked, with IPC): healthy-probe.mjs <url> <token>. Sends {ready: true} once its first round trip is
// done. On 'baseline' it waits for 10 round trips and 5 handshakes, sends back what it measured so far
// ({health: ms[], handshakes: ms[], failures: string[]}) and starts again from nothing: what the same client sees
// of the gateway before an attack, on the same machine at the same time. On 'stop' it sends back what it
// measured since and exits.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

const [url, token] = process.argv.slice(2);
let report = { health: [], handshakes: [], failures: [] };
let running = true;
let counter = 0;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens a socket; `answer(id)` resolves with the response to that request id (events are not even parsed). */
function open() {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const waiting = new Map();
  ws.on('message', (data) => {
    const text = data.toString('utf8', 0, Math.min(data.length, 200));
    if (!text.startsWith('{"type":"res"')) return;
    const frame = JSON.parse(data.toString());
    waiting.get(frame.id)?.(frame);
  });
  ws.on('error', () => {});
  const request = (method, params) =>
    new Promise((resolve, reject) => {
      const id = `p${++counter}`;
      const timer = setTimeout(() => reject(new Error(`${method}: no answer within 10 s`)), 10_000);
      waiting.set(id, (frame) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(frame);
      });
      ws.send(JSON.stringify({ type: 'req', id, method, params }));
    });
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, request, opened };
}

async function handshake() {
  const started = performance.now();
  const socket = open();
  await socket.opened;
  const client = { id: 'healthy', version: '1.0.0', platform: 'linux', mode: 'test', instanceId: randomUUID() };
  const answer = await socket.request('connect', { minProtocol: 3, maxProtocol: 4, client, role: 'operator', scopes: ['operator.read'], auth: { token } });
  if (answer.ok !== true) throw new Error(`handshake refused: ${JSON.stringify(answer.error)}`);
  return { socket, ms: performance.now() - started };
}

async function healthLoop(first) {
  const { socket } = first;
  while (running) {
    const started = performance.now();
    try {
      const answer = await socket.request('health');
      if (answer.ok !== true) report.failures.push(`health answered ${JSON.stringify(answer.error)}`);
      report.health.push(performance.now() - started);
    } catch (error) {
      report.failures.push(`health: ${error.message}`);
      return;
    }
    await sleep(200);
  }
  socket.ws.close(1000);
}

async function handshakeLoop() {
  while (running) {
    try {
      const { socket, ms } = await handshake();
      report.handshakes.push(ms);
      socket.ws.close(1000);
    } catch (error) {
      report.failures.push(`handshake: ${error.message}`);
    }
    await sleep(500);
  }
}

const first = await handshake();
await first.socket.request('health');
const loops = Promise.all([healthLoop(first), handshakeLoop()]);
process.send({ ready: true });
process.on('message', async (message) => {
  if (message === 'baseline') {
    while (report.health.length < 10 || report.handshakes.length < 5) await sleep(20);
    process.send({ ...report });
    report.health = [];
    report.handshakes = [];
    report.failures = [];
    return;
  }
  if (message !== 'stop') return;
  running = false;
  await loops;
  process.send(report, () => process.exit(0));
});
