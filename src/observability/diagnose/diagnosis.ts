// What `actorgate diagnose` finds in a gateway's logs: the shape both renderers print.

export type Severity = 'error' | 'warn' | 'info';

export interface Finding {
  /** Stable name of the finding, e.g. `handshake-timeout`, `auth:AUTH_TOKEN_MISMATCH`. */
  id: string;
  severity: Severity;
  count: number;
  /** What was seen, in one line. */
  summary: string;
  /** What to do about it, in one line, after the troubleshooting guide's root causes. */
  advice: string;
}

export interface CountedReason {
  /** `details.code` of the refusal (e.g. AUTH_TOKEN_MISMATCH), or the close's cause when it has none. */
  code: string;
  /** The close reason the client was given. */
  reason: string;
  count: number;
}

export interface DurationBuckets {
  /** Under 100 ms: the network or a firewall. */
  under100ms: number;
  /** From 100 ms to just under the handshake timeout: a slow handshake. */
  upToTimeout: number;
  /** The handshake timeout fired. */
  atTimeout: number;
}

export interface AddressSummary {
  remoteAddr: string;
  /** Connections from the address that ended in their handshake (SwiftPM helpers apart). */
  handshakeFailures: number;
  /** Upgrades refused with HTTP 503, suppressed log lines included. */
  rejectedUpgrades: number;
  /** Connections that completed the handshake. */
  ready: number;
}

export interface Diagnosis {
  input: {
    /** Every line read. */
    lines: number;
    /** Lines written by actorgate (JSON with `service: "actorgate"`). */
    records: number;
    /** Blank lines, lines that are not JSON, and other services' lines. */
    skipped: number;
    /** Lines that name actorgate but are not valid JSON (cut or interleaved writes). */
    corrupt: number;
    /** Lines above the line-length limit, dropped unread. */
    oversized: number;
    /** Time of the first and last actorgate record. */
    from?: string;
    to?: string;
  };
  handshakeTimeout: {
    ms: number;
    /** option: --handshake-timeout-ms; logged: a field of the logs; inferred: the shortest handshake timeout seen; default: 10000. */
    source: 'option' | 'logged' | 'inferred' | 'default';
  };
  connections: {
    /** `connection opened` lines (written at debug level only). */
    opened: number;
    /** Handshakes completed. */
    ready: number;
    /** Connections whose close is in the log. */
    closed: number;
    /** Ready, and no close in the log. */
    openAtEnd: number;
    /** Ready connections whose peer went without a close frame (1006). */
    droppedAfterReady: number;
    /** Closes by cause (the connection machine's cause kinds), most frequent first; SwiftPM helpers apart. */
    byOutcome: { outcome: string; count: number }[];
  };
  /** Close code and reason of every close but the SwiftPM helpers', most frequent first. */
  closeCodes: { code: number; reason: string; count: number }[];
  /** Connections that ended in their handshake, by how long they lived; SwiftPM helpers apart. */
  durations: DurationBuckets & { byOutcome: ({ outcome: string } & DurationBuckets)[] };
  handshakeTimeouts: number;
  closedBeforeConnect: { total: number; under100ms: number; upToTimeout: number };
  /** SwiftPM test helpers from loopback that opened and closed at once: not an error. */
  swiftpmHelpers: number;
  authFailures: CountedReason[];
  deviceFailures: CountedReason[];
  /** `auth.locked_out` lines: an address locked out after repeated failures. */
  lockouts: number;
  /** `pairing.refused` lines: a node's or device's pairing not filed or made because a pairing limit was reached. */
  pairingRefused: number;
  upgradeRejections: { logged: number; suppressed: number; total: number };
  /** TCP connections closed at once past the raw connection cap (`tcp.dropped`, suppressed ones included). */
  tcpDropped: number;
  /** Request frames refused before they were parsed (over the nesting, size or complexity limits), by `details.code`. */
  framesRefused: { code: string; count: number }[];
  /** Socket errors by detail: connections closed as `socket error`, and the raw socket errors the gateway logs as `upgrade.error`. */
  socketErrors: { detail: string; count: number }[];
  /** Lines at level error or above, by message. */
  gatewayErrors: { msg: string; count: number }[];
  topAddresses: AddressSummary[];
  /**
   * Node commands refused to an operator, by method (`node.invoke`, `node.pair` for approvals) and details.code:
   * forged exec approvals (APPROVAL_FIELDS_NOT_ALLOWED), the command policy, a scope the command class needs.
   */
  nodeCommandRefusals: { method: string; code: string; count: number }[];
  findings: Finding[];
}
