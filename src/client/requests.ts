// The client's requests in flight: each one's promise, settled by the gateway's answer, by the client
// machine giving up on it, or by its own timeout.
import type { RequestFailure } from '../../machines/client.js';
import type { ErrorShape } from '../../machines/protocol.js';

export class GatewayRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly error?: ErrorShape,
  ) {
    super(message);
    this.name = 'GatewayRequestError';
  }
}

/** The gateway's answer to a request, as the client machine hands it on (`settleRequest`). */
export interface RequestResponse {
  id: string;
  ok: boolean;
  payload?: unknown;
  error?: ErrorShape;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
}

/** Requests sent and not settled yet, by id; each is settled once, whatever settles it first. */
export class PendingRequests {
  private readonly entries = new Map<string, Pending>();
  private next = 1;

  /** The id of the next request: `r1`, `r2`, ... */
  nextId(): string {
    return `r${this.next++}`;
  }

  /** Tracks a request; with `timeoutMs`, rejects it with `TIMEOUT` when no answer came within that time. */
  add(id: string, method: string, resolve: (value: unknown) => void, reject: (error: Error) => void, timeoutMs: number | undefined): void {
    const entry: Pending = { resolve, reject };
    if (timeoutMs !== undefined) {
      entry.timer = setTimeout(
        () => this.reject(id, new GatewayRequestError('TIMEOUT', `no answer to ${method} within ${timeoutMs} ms`)),
        timeoutMs,
      );
    }
    this.entries.set(id, entry);
  }

  /** Settles a request with the gateway's answer: its payload, or its error as a GatewayRequestError. */
  settle(response: RequestResponse): void {
    if (response.ok) this.resolve(response.id, response.payload);
    else {
      const error = response.error ?? { code: 'UNAVAILABLE', message: 'request failed' };
      this.reject(response.id, new GatewayRequestError(error.code, error.message, error));
    }
  }

  /** Rejects the requests the client machine gave up on. */
  fail(failure: RequestFailure): void {
    for (const id of failure.ids) this.reject(id, new GatewayRequestError(failure.code, failure.message));
  }

  private resolve(id: string, value: unknown): void {
    this.take(id)?.resolve(value);
  }

  private reject(id: string, error: Error): void {
    this.take(id)?.reject(error);
  }

  /** Removes a request still pending, its timer stopped; undefined when it was settled already. */
  private take(id: string): Pending | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.entries.delete(id);
    if (entry.timer) clearTimeout(entry.timer);
    return entry;
  }
}
