// `actorgate start --inspect`: every actor's inspection events, with secrets redacted, go to the local relay
// of @statelyai/inspect, where a browser tab with the Stately inspector watches the gateway live.
//
// The relay (createInspectorServer) is one HTTP + WebSocket server on one port. Over HTTP, any path answers a
// bridge page that embeds https://stately.ai/inspect in an iframe and feeds it what the relay sends. Over
// WebSocket, every text message a client sends is kept (the last 200) and forwarded as is to every other open
// client; a client that connects later first gets the kept messages. The gateway is one such client (through
// createWebSocketInspector) and sends one JSON StatelyInspectionEvent per message: `@xstate.actor`,
// `@xstate.event` or `@xstate.snapshot`.
//
// The relay has no host option: Node binds it on every interface. Redaction happens here, before anything
// leaves the process.
import { connect, createServer } from 'node:net';
import { createWebSocketInspector } from '@statelyai/inspect';
import { createInspectorServer } from '@statelyai/inspect/server';
import type { InspectionEvent } from 'xstate';
import { ConfigError } from './config.js';

export const REDACTED = '[redacted]';

/**
 * Keys whose values never leave the process: `token`, `password`, `deviceToken`, `bootstrapToken`,
 * `signature`, and any key ending in token, password, secret, signature or privateKey (any case).
 */
export function isSecretKey(key: string): boolean {
  return /(?:token|password|secret|signature|privatekey)$/i.test(key);
}

const MAX_DEPTH = 32;

/**
 * A deep copy with JSON's semantics (toJSON honoured, so actor refs become `{ xstate$$type, id }`;
 * functions and symbols dropped; Maps and Sets, which JSON shows as `{}`, stay `{}`), where the value of
 * every secret key is replaced with "[redacted]", also inside JSON text held by keys ending in `JSON`
 * (node command params and results). Cycles and nesting beyond 32 levels are cut.
 */
export function redactSecrets(value: unknown): unknown {
  const ancestors = new Set<object>();
  const walk = (input: unknown, depth: number): unknown => {
    let current = input;
    if (current !== null && typeof current === 'object' && typeof (current as { toJSON?: unknown }).toJSON === 'function') {
      current = (current as { toJSON(): unknown }).toJSON();
    }
    if (typeof current === 'bigint') return current.toString();
    if (typeof current === 'function' || typeof current === 'symbol') return undefined;
    if (current === null || typeof current !== 'object') return current;
    if (ancestors.has(current)) return '[Circular]';
    if (depth >= MAX_DEPTH) return '[Object]';
    ancestors.add(current);
    try {
      if (Array.isArray(current)) return current.map((item) => walk(item, depth + 1) ?? null);
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(current)) {
        let next: unknown;
        if (isSecretKey(key) && item !== undefined && item !== null) next = REDACTED;
        else if (typeof item === 'string' && key.endsWith('JSON')) next = redactJsonText(item, (value) => walk(value, depth + 1));
        else next = walk(item, depth + 1);
        if (next !== undefined) copy[key] = next;
      }
      return copy;
    } finally {
      ancestors.delete(current);
    }
  };
  return walk(value, 0);
}

/** A JSON text field (`paramsJSON`, `payloadJSON` of node commands): redacted inside, or "[redacted]" if not JSON. */
function redactJsonText(text: string, redact: (value: unknown) => unknown): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return REDACTED;
  }
  return JSON.stringify(redact(parsed)) ?? REDACTED;
}

export interface InspectorOptions {
  /** Port of the relay (HTTP page and WebSocket); it listens on every interface. */
  port: number;
}

export interface Inspector {
  /** For GatewayOptions.inspect: takes every actor's inspection events. */
  inspect: (event: InspectionEvent) => void;
  /** The relay's WebSocket URL, where the gateway publishes and watchers subscribe. */
  url: string;
  /** The relay's bridge page to open in a browser on this machine (it embeds the Stately inspector). */
  pageUrl: string;
  stop(): Promise<void>;
}

function describeListenError(port: number, error: NodeJS.ErrnoException): string {
  const hint = 'choose another with --inspect-port or ACTORGATE_INSPECT_PORT';
  if (error.code === 'EADDRINUSE') return `--inspect-port ${port} is already in use; ${hint}`;
  if (error.code === 'EACCES') return `--inspect-port ${port} needs privileges to listen on; ${hint}`;
  return `cannot listen on --inspect-port ${port} (${error.code ?? error.message}); ${hint}`;
}

/**
 * Fails with a ConfigError when the relay could not listen on the port. The relay would otherwise emit
 * an unhandled 'error' (EADDRINUSE), which ends the process. It binds like the relay does: no host.
 */
export function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => reject(new ConfigError(describeListenError(port, error))));
    probe.listen(port, () => probe.close(() => resolve()));
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port (the relay listens asynchronously). */
async function waitUntilListening(port: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (accepted) return;
    if (Date.now() >= deadline) throw new Error(`the inspection relay did not listen on port ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Starts the relay, then the gateway's publisher connected to it. */
export async function startInspector(options: InspectorOptions): Promise<Inspector> {
  const { port } = options;
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    // Port 0 cannot work: the relay writes its port into the bridge page and never reports the bound one.
    throw new ConfigError(`--inspect-port must be an integer from 1 to 65535, got "${port}"`);
  }
  await assertPortFree(port);
  const server = createInspectorServer({ port, autoOpen: false });
  try {
    await waitUntilListening(port);
  } catch (error) {
    server.stop();
    throw error;
  }
  const url = `ws://127.0.0.1:${port}`;
  const pageUrl = `http://localhost:${port}`;
  const publisher = createWebSocketInspector({
    url,
    autoStart: false,
    // sanitizeEvent and sanitizeContext would miss the rest of a snapshot (output, error, children) and run
    // on the `@xstate.actor` snapshot only partly; serialize sees every whole event last.
    serialize: (event) => redactSecrets(event) as typeof event,
  });
  publisher.start();
  let stopped = false;
  return {
    inspect: (event) => publisher.inspect.next?.(event),
    url,
    pageUrl,
    async stop() {
      if (stopped) return;
      stopped = true;
      publisher.stop();
      server.stop();
    },
  };
}
