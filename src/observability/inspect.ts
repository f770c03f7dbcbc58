// `actorgate start --inspect`: every actor's inspection events, with secrets redacted, go to our relay on
// 127.0.0.1 (src/observability/inspect-relay.ts), where a browser tab with the Stately inspector watches the gateway live.
//
// The gateway publishes through createWebSocketInspector of @statelyai/inspect, one JSON StatelyInspectionEvent
// per message (`@xstate.actor`, `@xstate.event` or `@xstate.snapshot`), to the relay's publisher path, which
// holds a secret only this process knows. The relay serves the bridge page and forwards the events to watchers
// whose Origin is that page's (or absent). Redaction happens here, before anything leaves the process.
import { createWebSocketInspector } from '@statelyai/inspect';
import type { AddressInfo } from 'node:net';
import type { InspectionEvent } from 'xstate';
import { OptionError } from '../errors.js';
import { startInspectRelay } from './inspect-relay.js';

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
  /** Port of the relay (HTTP page and WebSocket) on 127.0.0.1; 0 lets the system pick one. */
  port: number;
  /** Page the bridge embeds (the Stately inspector by default); for tests. */
  inspectorUrl?: string;
  /** How long to wait for the gateway's publisher to reach the relay (5 s). */
  publisherTimeoutMs?: number;
}

export interface Inspector {
  /** For GatewayOptions.inspect: takes every actor's inspection events. */
  inspect: (event: InspectionEvent) => void;
  /** The relay's WebSocket URL for watchers (read-only; a browser must come from the relay's page). */
  url: string;
  /** The relay's bridge page to open in a browser on this machine (it embeds the Stately inspector). */
  pageUrl: string;
  /** The port the relay is bound to (the one picked by the system for port 0). */
  port: number;
  /** The relay server's bound address: always 127.0.0.1. */
  address(): AddressInfo;
  stop(): Promise<void>;
}

function describeListenError(port: number, error: NodeJS.ErrnoException): string {
  const hint = 'choose another with --inspect-port or ACTORGATE_INSPECT_PORT';
  if (error.code === 'EADDRINUSE') return `--inspect-port ${port} is already in use; ${hint}`;
  if (error.code === 'EACCES') return `--inspect-port ${port} needs privileges to listen on; ${hint}`;
  return `cannot listen on --inspect-port ${port} (${error.code ?? error.message}); ${hint}`;
}

/**
 * Starts the relay on 127.0.0.1, then the gateway's publisher, and resolves once the publisher is connected.
 * A port the relay cannot listen on (in use, privileged) is an OptionError.
 */
export async function startInspector(options: InspectorOptions): Promise<Inspector> {
  const { port } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new OptionError(`--inspect-port must be an integer from 0 to 65535, got "${port}"`);
  }
  let relay: Awaited<ReturnType<typeof startInspectRelay>>;
  try {
    relay = await startInspectRelay({ port, ...(options.inspectorUrl ? { inspectorUrl: options.inspectorUrl } : {}) });
  } catch (error) {
    const errno = error as NodeJS.ErrnoException;
    if (typeof errno?.code === 'string') throw new OptionError(describeListenError(port, errno));
    throw error;
  }
  const publisher = createWebSocketInspector({
    url: relay.publishUrl,
    autoStart: false,
    // sanitizeEvent and sanitizeContext would miss the rest of a snapshot (output, error, children) and run
    // on the `@xstate.actor` snapshot only partly; serialize sees every whole event last.
    serialize: (event) => redactSecrets(event) as typeof event,
  });
  publisher.start();
  try {
    await relay.waitForPublisher(options.publisherTimeoutMs ?? 5_000);
  } catch (error) {
    publisher.stop();
    await relay.stop();
    throw error;
  }
  let stopped = false;
  return {
    inspect: (event) => publisher.inspect.next?.(event),
    url: relay.watchUrl,
    pageUrl: relay.pageUrl,
    port: relay.port,
    address: () => relay.address(),
    async stop() {
      if (stopped) return;
      stopped = true;
      publisher.stop();
      await relay.stop();
    },
  };
}
