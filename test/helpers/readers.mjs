// Operators that keep reading, in a process of their own (what they receive is not held by the test process):
// each completes a handshake, then counts the frames of one event (`relay.event` unless named) without parsing them.
// Usage (forked, with IPC): readers.mjs <url> <token> <count> [event]. Sends {ready: true} once every one is ready; on the
// message 'count' it sends back {counts: number[]}; on 'stop' it closes them and exits.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

const [url, token, countText, event = 'relay.event'] = process.argv.slice(2);
const prefix = `{"type":"event","event":${JSON.stringify(event)}`;
const counts = [];

async function reader(index) {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  counts[index] = 0;
  const ready = new Promise((resolve, reject) => {
    ws.on('message', (data) => {
      const head = data.toString('utf8', 0, Math.min(data.length, 120));
      if (head.startsWith(prefix)) counts[index] += 1;
      else if (head.startsWith('{"type":"res"')) {
        const frame = JSON.parse(data.toString());
        if (frame.ok) resolve(ws);
        else reject(new Error(JSON.stringify(frame.error)));
      }
    });
    ws.once('error', reject);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const client = { id: 'reader', version: '1.0.0', platform: 'linux', mode: 'test', instanceId: randomUUID() };
  ws.send(JSON.stringify({ type: 'req', id: 'c', method: 'connect', params: { minProtocol: 3, maxProtocol: 4, client, role: 'operator', scopes: ['operator.read'], auth: { token } } }));
  return ready;
}

const sockets = [];
for (let i = 0; i < Number(countText); i++) sockets.push(await reader(i));
process.send({ ready: true });
process.on('message', (message) => {
  if (message === 'count') process.send({ counts });
  if (message === 'stop') {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
