// Memory probe preloaded into both bench/reference.mjs server processes (`node --expose-gc --import
// <this file> ...`): the reference gateway and actorgate alike. Only node: built-ins, nothing else is
// loaded into the server.
//
// When BENCH_PROBE_SOCKET names a path, it listens on that Unix socket; every line received there is
// answered with one JSON line: "mem" with the process's memory before and after a full GC (three
// passes, so that finalizers and weak callbacks run), "cpu" with the process's own CPU time so far
// (process.cpuUsage, user + system, in microseconds). The variable is removed from the environment at
// once, so that processes the server spawns (the reference starts a few workers) neither inherit it
// nor try to listen on the same path. The listening socket is unref'd: it never keeps a server alive.
// With BENCH_PROBE_PARENT_PID, the server is sent SIGTERM once that process is no longer its parent.
import { createServer } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

const path = process.env.BENCH_PROBE_SOCKET;
const parentPid = Number(process.env.BENCH_PROBE_PARENT_PID);
delete process.env.BENCH_PROBE_SOCKET;
delete process.env.BENCH_PROBE_PARENT_PID;

// The bench process is gone (SIGKILLed, crashed): a server must not outlive it. SIGTERM lets it shut
// down as it would for its user (the reference stops its own workers).
if (parentPid > 0) {
  setInterval(() => {
    if (process.ppid !== parentPid) process.kill(process.pid, 'SIGTERM');
  }, 1_000).unref();
}

function vmRssBytes() {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : process.memoryUsage().rss;
  } catch {
    return process.memoryUsage().rss;
  }
}

function sample() {
  const { heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  // Committed size of each V8 heap space: the young generation (new_space) grows with the allocation
  // rate and stays committed after a GC, which shows in the RSS but is not per-connection state.
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size]));
  return { rss: vmRssBytes(), heapUsed, heapTotal, external, arrayBuffers, spaces };
}

async function measure() {
  const before = sample();
  const gc = globalThis.gc;
  if (typeof gc === 'function') {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { pid: process.pid, gc: typeof gc === 'function', before, after: sample() };
}

if (path) {
  try {
    rmSync(path, { force: true });
  } catch {
    // Nothing to remove.
  }
  const server = createServer((socket) => {
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', async (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line === 'mem') socket.write(`${JSON.stringify(await measure())}\n`);
        else if (line === 'cpu') {
          const { user, system } = process.cpuUsage();
          socket.write(`${JSON.stringify({ pid: process.pid, cpu: user + system })}\n`);
        }
      }
    });
  });
  server.on('error', () => {});
  server.listen(path, () => server.unref());
}
