// The V8 setting `actorgate start` serves with.
//
// V8 "pretenures" an allocation site (allocates its objects straight in the old generation) once most of
// its objects have survived a young-generation GC. A handshake's objects live across several event-loop
// turns, so the sites they share with every later request (XState's action records, ws's read buffers)
// get pretenured while clients connect; from then on each request's garbage lands in the old generation,
// which grows by megabytes a second at a few thousand requests/s, and the mark-compacts that follow stall
// the event loop for 5-20 ms: the request latency's p99. Without pretenuring that garbage dies young.
// Measured in bench/ (1,000 clients, `health` at 5,000/s): old-generation growth ~2.7 MB/s -> ~0, p99
// 2.6-6 ms -> 2.1-2.8 ms (bare ws: 1.6-3.0 ms), and handshakes 3-7% faster.
import { setFlagsFromString } from 'node:v8';

export const HEAP_TUNING_FLAGS = ['--no-allocation-site-pretenuring'] as const;

/** Applies the gateway's V8 flags to this process; call it before serving. */
export function tuneHeapForGateway(setFlags: (flags: string) => void = setFlagsFromString): void {
  for (const flag of HEAP_TUNING_FLAGS) setFlags(flag);
}
