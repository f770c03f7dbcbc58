// The part of the WebSocket API the client uses: browsers', Deno's and Bun's global WebSocket, and
// `ws` on Node (injected by the Node entry), all fit it.

export const SOCKET_OPEN = 1;

export interface SocketCloseEvent {
  code: number;
  reason: string;
}

export interface SocketMessageEvent {
  data: unknown;
}

export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'close', listener: (event: SocketCloseEvent) => void): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
  addEventListener(type: 'message', listener: (event: SocketMessageEvent) => void): void;
  /** `ws` only: drops the TCP connection at once, without waiting for a close handshake. */
  terminate?(): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Text of a message event: strings as they are, bytes decoded as UTF-8, anything else undefined. */
export function messageText(data: unknown): string | undefined {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return undefined;
}
