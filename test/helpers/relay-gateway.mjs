// A program that embeds actorgate (the build in dist/) and relays what its nodes send to every reader operator as
// `relay.event`: the fan-out an agent service built on createGateway does, under the gateway's own bounds (buffers
// per socket and in all, slow consumers, frame limits). Logs JSON lines on stdout like `actorgate start`.
// Usage: node --max-old-space-size=512 relay-gateway.mjs <token>
import { createGateway } from '../../dist/src/index.js';

const [token] = process.argv.slice(2);
const gateway = createGateway({ host: '127.0.0.1', port: 0, token, logLevel: 'info' });
gateway.method('relay.event', {
  role: 'node',
  handle: (params) => {
    gateway.broadcast('relay.event', params);
    return { ok: true };
  },
});
await gateway.listen();
process.on('SIGTERM', () => void gateway.close('stopped').then(() => process.exit(0)));
