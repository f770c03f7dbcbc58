// A TCP proxy on 127.0.0.1 that injects network faults between a client and a gateway:
// pass-through, added latency, drop (both sockets destroyed, no close frame), half-open (nothing is
// forwarded any more, yet both sockets stay open) and refuse (the port stops listening).
import net from 'node:net';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

export class FaultProxy {
  /** Added to every chunk, in both directions. */
  latencyMs = 0;
  /** TCP connections accepted since the start. */
  accepted = 0;
  private forwarding = true;
  private readonly pairs = new Set<Pair>();
  private server: net.Server;

  private constructor(
    readonly port: number,
    private targetPort: number,
    server: net.Server,
  ) {
    this.server = server;
  }

  static async start(targetPort: number): Promise<FaultProxy> {
    const holder: { proxy?: FaultProxy } = {};
    const server = net.createServer((socket) => holder.proxy?.accept(socket));
    await listen(server, 0);
    const proxy = new FaultProxy((server.address() as net.AddressInfo).port, targetPort, server);
    holder.proxy = proxy;
    return proxy;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get openConnections(): number {
    return this.pairs.size;
  }

  /** Where new connections go from now on. */
  retarget(targetPort: number): void {
    this.targetPort = targetPort;
  }

  /** Forward everything again (and stop adding latency). */
  pass(): void {
    this.forwarding = true;
    this.latencyMs = 0;
  }

  /** Stop forwarding in both directions, dropping what arrives, with every socket left open. */
  halfOpen(): void {
    this.forwarding = false;
  }

  /** Destroy every proxied connection on both sides: no close frame, no FIN handshake to wait for. */
  drop(): void {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Stop listening: new connections are refused (ECONNREFUSED); open ones stay. */
  async refuse(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      // close() waits for open connections; the listening socket is gone at once all the same.
      setImmediate(resolve);
    });
  }

  /** Listen again, on the same port. */
  async resume(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    await listen(server, this.port);
    this.server = server;
  }

  async close(): Promise<void> {
    this.drop();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    const pair = { client, upstream };
    this.pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk) => {
        if (!this.forwarding) return;
        const write = () => {
          if (this.forwarding && !to.destroyed) to.write(chunk);
        };
        if (this.latencyMs > 0) setTimeout(write, this.latencyMs);
        else write();
      });
      // An orderly end or a reset on one side is passed on, as a real middlebox would (unless half-open).
      from.on('close', () => {
        if (!this.forwarding) return;
        const end = () => {
          to.end();
          this.pairs.delete(pair);
        };
        if (this.latencyMs > 0) setTimeout(end, this.latencyMs);
        else end();
      });
      from.on('error', () => to.destroy());
    };
    forward(client, upstream);
    forward(upstream, client);
  }
}

function listen(server: net.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
