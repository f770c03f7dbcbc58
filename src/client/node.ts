// `actorgate/client` on Node: the portable client with `ws` injected (Node 20 has no global WebSocket),
// and device key files.
import WebSocket from 'ws';
import { createGatewayClient as createPortableClient, type GatewayClient, type GatewayClientOptions } from './client.js';
import type { WebSocketConstructor } from './socket.js';

export * from './index.js';
export { loadOrCreateDeviceKey, type DeviceKeyFile } from './key-file.js';

/** As the portable `createGatewayClient`, over `ws` unless `options.WebSocket` says otherwise. */
export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  return createPortableClient({
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    ...options,
    client: { platform: process.platform, ...options.client },
  });
}
