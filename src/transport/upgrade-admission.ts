// Which connections become WebSockets: none once the gateway is stopping, at most `maxConnections`
// sockets (open or upgrading) from everyone, and at most `maxPreauthPerAddress` per client address that
// have not completed their handshake. A refusal is an HTTP 503 before any WebSocket or actor exists,
// logged at most once per address every 10 s with the refusals in between summed up. Raw TCP
// connections past `rawConnectionCap` are dropped by the server before HTTP, logged the same way.
import type { Logger } from 'pino';
import { LogThrottle } from './log-throttle.js';
import { addressKey } from './network.js';
import type { UpgradeGate } from './types.js';

const PREAUTH_REJECTION = 'too many unauthenticated connections';
const GLOBAL_REJECTION = 'too many connections';

/**
 * Counts the sockets of each address that are still in their handshake. O(1) per operation; an address
 * leaves the Map when its count drops to zero, so the Map holds only addresses with pending sockets.
 */
export class PreauthCounter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Counts one more pending socket, or refuses with the current count when the address is at its cap. */
  tryAcquire(address: string): { ok: true } | { ok: false; count: number } {
    const key = addressKey(address);
    const count = this.counts.get(key) ?? 0;
    if (this.max > 0 && count >= this.max) return { ok: false, count };
    this.counts.set(key, count + 1);
    return { ok: true };
  }

  release(address: string): void {
    const key = addressKey(address);
    const count = this.counts.get(key);
    if (count === undefined) return;
    if (count <= 1) this.counts.delete(key);
    else this.counts.set(key, count - 1);
  }

  count(address: string): number {
    return this.counts.get(addressKey(address)) ?? 0;
  }

  /** Addresses with at least one pending socket. */
  get size(): number {
    return this.counts.size;
  }
}

/**
 * TCP connections the server accepts at once, for a WebSocket cap of `maxConnections` (0: no cap): the cap
 * plus headroom (a tenth, at least 64) for upgrades in flight and health checks. Past it the kernel's
 * connection is closed at once, before HTTP: a flood of idle TCP connections that never send an upgrade
 * is bounded by this in number, and by the handshake timeout in time.
 */
export function rawConnectionCap(maxConnections: number): number {
  return maxConnections > 0 ? maxConnections + Math.max(64, Math.ceil(maxConnections / 10)) : 0;
}

export interface UpgradeAdmissionOptions {
  /** Sockets open at once, handshaking or ready, from everyone (0: no cap). */
  maxConnections: number;
  /** Sockets per address that have not completed their handshake (0: no cap). */
  maxPreauthPerAddress: number;
  /** How many sockets are open now (accepted and not yet closed). */
  openSockets(): number;
  logger: Logger;
}

export class UpgradeAdmission implements UpgradeGate {
  private readonly preauth: PreauthCounter;
  private readonly preauthLog = new LogThrottle();
  private readonly globalLog = new LogThrottle();
  private readonly dropLog = new LogThrottle();
  /** Raw TCP connections the server accepts at once (0: no cap). */
  readonly tcpCap: number;
  /** Upgrades admitted and not yet sockets: they count against the global cap. */
  private upgrading = 0;
  private accepting = true;

  constructor(private readonly options: UpgradeAdmissionOptions) {
    this.preauth = new PreauthCounter(options.maxPreauthPerAddress);
    this.tcpCap = rawConnectionCap(options.maxConnections);
  }

  admit(remoteAddr: string): boolean {
    if (!this.accepting) return false;
    const { maxConnections, logger } = this.options;
    const open = this.options.openSockets() + this.upgrading;
    if (maxConnections > 0 && open >= maxConnections) {
      const line = this.globalLog.take('*');
      if (line.log) {
        const fields = { event: 'upgrade.rejected', reason: GLOBAL_REJECTION, remoteAddr, count: open, limit: maxConnections };
        logger.warn(line.suppressed > 0 ? { ...fields, suppressed: line.suppressed } : fields, 'upgrade rejected');
      }
      return false;
    }
    const admitted = this.preauth.tryAcquire(remoteAddr);
    if (!admitted.ok) {
      const line = this.preauthLog.take(addressKey(remoteAddr));
      if (line.log) {
        const limit = this.options.maxPreauthPerAddress;
        const fields = { event: 'upgrade.rejected', reason: PREAUTH_REJECTION, remoteAddr, count: admitted.count, limit };
        logger.warn(line.suppressed > 0 ? { ...fields, suppressed: line.suppressed } : fields, 'upgrade rejected');
      }
      return false;
    }
    this.upgrading += 1;
    return true;
  }

  /** The upgrade became a socket: it now counts as open (through `openSockets`), still unauthenticated. */
  upgraded(): void {
    this.upgrading -= 1;
  }

  /** An upgrade that never became a socket gives both its slots back. */
  abandoned(remoteAddr: string): void {
    this.upgrading -= 1;
    this.preauth.release(remoteAddr);
  }

  /** A socket stops counting as unauthenticated (it is ready, or closed). */
  release(remoteAddr: string): void {
    this.preauth.release(remoteAddr);
  }

  /** Sockets from this address that have not completed their handshake. */
  unauthenticated(remoteAddr: string): number {
    return this.preauth.count(remoteAddr);
  }

  /** The server dropped a raw TCP connection past `tcpCap`. */
  dropped(remoteAddr: string | undefined): void {
    const line = this.dropLog.take('*');
    if (!line.log) return;
    const fields = { event: 'tcp.dropped', reason: GLOBAL_REJECTION, remoteAddr, limit: this.tcpCap };
    this.options.logger.warn(line.suppressed > 0 ? { ...fields, suppressed: line.suppressed } : fields, 'tcp connection dropped');
  }

  stopAccepting(): void {
    this.accepting = false;
  }

  /** Forgets what has expired; a flood that stopped is summed up in one last line. */
  sweep(): void {
    this.preauthLog.prune(this.summarisePreauth);
    this.globalLog.prune(this.summariseGlobal);
    this.dropLog.prune(this.summariseDrops);
  }

  /** Sums up every refusal held back (at shutdown). */
  flush(): void {
    this.preauthLog.flush(this.summarisePreauth);
    this.globalLog.flush(this.summariseGlobal);
    this.dropLog.flush(this.summariseDrops);
  }

  private readonly summarisePreauth = (remoteAddr: string, suppressed: number) =>
    this.options.logger.warn({ event: 'upgrade.rejected', reason: PREAUTH_REJECTION, remoteAddr, suppressed }, 'upgrade rejected (summary)');

  private readonly summariseGlobal = (_key: string, suppressed: number) =>
    this.options.logger.warn({ event: 'upgrade.rejected', reason: GLOBAL_REJECTION, suppressed }, 'upgrade rejected (summary)');

  private readonly summariseDrops = (_key: string, suppressed: number) =>
    this.options.logger.warn({ event: 'tcp.dropped', reason: GLOBAL_REJECTION, suppressed, limit: this.tcpCap }, 'tcp connection dropped (summary)');
}
