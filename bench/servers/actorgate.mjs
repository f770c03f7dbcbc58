// The actorgate server child: createGateway from dist/ (the package's main export) on 127.0.0.1 (port 0),
// token auth, silent logger, the same ws options as the bare server (the gateway's own: no
// permessage-deflate, 64 KiB pre-auth maxPayload). All bench clients come from loopback addresses and open
// many sockets at a time, so the per-address cap of unauthenticated sockets and the global cap are off
// (the reference has no such switch: see rows.mjs).
//
//   node --expose-gc bench/servers/actorgate.mjs   (forked by bench/run.mjs, token in BENCH_TOKEN)
import { createGateway, createLogger, tuneHeapForGateway } from '../../dist/src/index.js';
import { serveServer } from './control.mjs';

// As `actorgate start` does (src/gateway/heap-tuning.ts); BENCH_HEAP_TUNING=0 leaves V8's defaults, for comparison.
if (process.env.BENCH_HEAP_TUNING !== '0') tuneHeapForGateway();

const gateway = createGateway({
  host: '127.0.0.1',
  port: 0,
  token: process.env.BENCH_TOKEN,
  handshakeTimeoutMs: 10_000,
  tickIntervalMs: 30_000,
  logger: createLogger('silent'),
  maxPreauthPerAddress: 0,
  maxConnections: 0,
});
await gateway.listen();

serveServer({
  port: gateway.port,
  connections: () => gateway.connectionCount(),
  close: () => gateway.close('bench finished'),
  stats: () => gateway.stats(),
});
