// The actorgate server child: startGateway from dist/ on 127.0.0.1 (port 0), token auth, silent logger,
// the same ws options as the bare server (the gateway's own: no permessage-deflate, 64 KiB pre-auth
// maxPayload). All bench clients come from loopback addresses and open many sockets at a time, so the
// per-address cap of unauthenticated sockets is off (the reference has no such switch: see rows.mjs).
//
//   node --expose-gc bench/servers/actorgate.mjs   (forked by bench/run.mjs, token in BENCH_TOKEN)
import { startGateway } from '../../dist/src/gateway.js';
import { tuneHeapForGateway } from '../../dist/src/heap-tuning.js';
import { createLogger } from '../../dist/src/logger.js';
import { serveServer } from './control.mjs';

// As `actorgate start` does (src/heap-tuning.ts); BENCH_HEAP_TUNING=0 leaves V8's defaults, for comparison.
if (process.env.BENCH_HEAP_TUNING !== '0') tuneHeapForGateway();

const gateway = await startGateway({
  host: '127.0.0.1',
  port: 0,
  auth: { mode: 'token', token: process.env.BENCH_TOKEN },
  handshakeTimeoutMs: 10_000,
  tickIntervalMs: 30_000,
  logger: createLogger('silent'),
  limits: { maxPreauthPerAddress: 0, maxConnections: 0 },
});

serveServer({
  port: gateway.port,
  connections: () => gateway.connectionCount(),
  close: () => gateway.close('bench finished'),
  stats: () => (typeof gateway.stats === 'function' ? gateway.stats() : null),
});
