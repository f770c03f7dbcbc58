// One line of advice per kind of finding, after the root causes of the troubleshooting guide
// (handshake timeout, socket error, client closed before the handshake, failed Ed25519 pairing)
// and the close codes of the protocol.

/** Advice for a refused connect, by `details.code`. */
const REFUSAL_ADVICE: Record<string, string> = {
  AUTH_TOKEN_MISMATCH:
    'Clients send a gateway token that does not match: give them the current one (--token, or the gateway-token file in the state dir).',
  AUTH_TOKEN_MISSING: 'Clients send no token to a gateway in --auth token: configure the token in the client.',
  AUTH_PASSWORD_MISMATCH: 'Clients send a wrong gateway password: give them the current one (--password).',
  AUTH_PASSWORD_MISSING: 'Clients send no password to a gateway in --auth password: configure the password in the client.',
  AUTH_DEVICE_TOKEN_MISMATCH:
    'A device token was refused (device removed or token rotated): pair the device again, or connect with the gateway token.',
  AUTH_SCOPE_MISMATCH:
    'A device token asked for a role or scopes beyond what its device was approved for: connect with the gateway token to file an upgrade request an operator approves (device.pair.approve), or ask for less.',
  AUTH_BOOTSTRAP_TOKEN_INVALID:
    'Clients present a setup code (auth.bootstrapToken): this gateway issues none; pair them with the gateway token instead.',
  AUTH_RATE_LIMITED:
    'Connects refused while their address was locked out after repeated failures: fix the credentials, then wait out the lockout (retryAfterMs).',
  DEVICE_AUTH_DEVICE_ID_MISMATCH:
    'device.id is not the SHA-256 of the device public key: the client identity is inconsistent; regenerate it on the client.',
  DEVICE_AUTH_SIGNATURE_EXPIRED:
    'Device signatures more than 2 minutes off the gateway clock: synchronise the clocks (NTP) of client and gateway host.',
  DEVICE_AUTH_NONCE_REQUIRED:
    'Device proofs without a nonce: the client must sign the nonce of connect.challenge (an old client needs an upgrade).',
  DEVICE_AUTH_NONCE_MISMATCH:
    'Device proofs sign a nonce other than this socket\'s challenge: the client reuses a stale challenge; it must sign the one it was just sent.',
  DEVICE_AUTH_PUBLIC_KEY_INVALID:
    'Malformed device public keys: the key must be a raw 32-byte Ed25519 key in base64url (or PEM).',
  DEVICE_AUTH_SIGNATURE_INVALID:
    'Device signatures verify neither as v3 nor v2: the client signs other fields (role, scopes, token, platform) than it sends.',
  PAIRING_REQUESTS_LIMITED:
    'Pairing requests refused: too many are waiting for an operator (in all, or from one address): approve or reject the pending ones (device.pair.list), or raise --pairing-max-pending.',
  PAIRING_RATE_LIMITED:
    'Silent pairings refused: one address paired too many new devices or nodes within the window (--pairing-silent-max): find what mints fresh identities on that host.',
  PAIRING_LIMIT_REACHED:
    'Pairings refused at the paired cap (--pairing-max-devices, --pairing-max-nodes): remove devices or nodes no longer used (device.pair.remove, node.pair.remove), or raise the cap.',
  CONTROL_UI_ORIGIN_NOT_ALLOWED:
    'Web pages from an origin the gateway does not allow tried to connect: open the page from the gateway host, or list its origin in --allowed-origins; if you do not know the page, some site is probing the gateway from a browser.',
  PAIRING_REQUIRED:
    'Devices not paired yet, or paired devices asking for more scopes (details.reason scope-upgrade): an operator approves them (device.pair.approve); in auto-local mode loopback clients without an Origin pair silently.',
  NODE_ID_RESERVED:
    "Nodes claimed a node id that belongs to a device (a device id, or an id approved for a device key) without proving that device: a misconfigured client.id, or someone posing as the node; connect with the node's own device identity.",
  NODE_ID_IN_USE:
    'Nodes claimed a node id that connections of another identity speak for: two nodes share an id; give each its own client.id or device identity.',
};

export function refusalAdvice(code: string): string {
  return (
    REFUSAL_ADVICE[code] ??
    (code.startsWith('DEVICE_')
      ? `The device check failed (${code}): the client's device identity or proof is wrong; compare it with the protocol's device identity rules.`
      : `Authentication failed (${code}): check the credentials the client sends.`)
  );
}

/** Advice for a node command refused to an operator, by `details.code`. */
const NODE_COMMAND_ADVICE: Record<string, string> = {
  APPROVAL_FIELDS_NOT_ALLOWED:
    'An operator sent exec-approval fields (approved, approvalDecision, approvalSource) in system.run params, which the node host would take as a human approval: find the client by connId in these lines; only the node\'s owner approves its commands.',
  COMMAND_DENIED_BY_POLICY:
    'Invokes or approvals refused by --node-commands-allow/--node-commands-deny: expected if the policy is meant; otherwise widen it (the line names the rule).',
  MISSING_SCOPE:
    'An operator lacked the scope a node command class needs (operator.admin for shell, file and browser commands or to approve them, operator.write for the rest): grant it, or use an operator that has it.',
};

export function nodeCommandAdvice(code: string): string {
  return NODE_COMMAND_ADVICE[code] ?? `Node commands refused (${code}): read those lines (connId, command, detail) in the log.`;
}

export const ADVICE = {
  handshakeTimeout: (timeoutMs: number) =>
    `No valid connect within ${timeoutMs} ms (close 1008): clients must send connect as soon as connect.challenge arrives; check that auth or pairing does not stall them, and reconnect with backoff.`,
  closedBeforeConnectFast:
    'Peers hung up within 100 ms of the open, before any connect: look at the network path (firewall, proxy, load-balancer probes), not at the client.',
  closedBeforeConnectSlow:
    'Peers hung up mid-handshake, after 100 ms but before the timeout: a slow or abandoned handshake on the client (its own shorter timeout, a crash, a cancel).',
  socketError:
    'Sockets failed during setup (network, proxy or TLS in front of the gateway); the gateway closes them at once and never retries: check what sits between clients and the gateway.',
  protocolMismatch: 'Clients speak no protocol version in 3..4 (close 1002): upgrade the client or the gateway so their versions overlap.',
  malformedFrame: 'Frames that are not protocol JSON (close 1002): something other than an OpenClaw client (a scanner, a misrouted client) is connecting.',
  invalidConnect: 'connect params that fail the schema (close 1002): the client sends fields or values this protocol does not accept.',
  connectRequired: 'A first request other than connect (close 1008): the client must complete connect before anything else.',
  frameRefused: (code: string) =>
    code === 'FRAME_TOO_LARGE_FOR_METHOD'
      ? 'Request frames bigger than their method takes (64 KiB for methods without big params): a client pads its requests; if it is yours, send params the method reads.'
      : code === 'PARAMS_TOO_DEEP'
        ? 'Request params nested more than 128 levels deep: a client sends crafted params; no method needs them.'
        : 'Request frames with more objects, arrays or values than any method needs (FRAME_TOO_COMPLEX): a client is testing the parser; look at its address in the frame.refused lines.',
  frameTooLarge: 'Frames above the size limit (close 1009; 64 KiB before the handshake): the client sends too much too early.',
  slowConsumer: 'Peers read slower than the gateway writes and were terminated (slow consumer; also the largest consumers when all sockets together passed --max-total-buffered-bytes): check their network and how fast they consume events.',
  droppedAfterReady:
    'Ready connections dropped without a close frame (1006): network interruptions or killed clients; clients should reconnect with backoff and jitter.',
  pongTimeout:
    'Peers stopped answering pings without closing (a dead network path, a sleeping machine, a NAT timeout): clients should watch tick and reconnect with backoff.',
  unauthorizedCalls:
    'A client kept calling methods its role or scopes do not allow and was disconnected: grant the scopes it needs, or fix the client.',
  pairingNotSaved:
    'The gateway could not write its pairing state (pairing.json in the state dir): check disk space and permissions; those clients were told to retry.',
  otherCause: (cause: string) => `Connections closed with cause ${cause}: read those lines (connId, detail) in the log.`,
  credentialsRevoked: 'Connections closed with 4001 after an operator removed their device or node, or rotated or revoked a device token: expected after such a change; nothing to fix.',
  pairingRefused:
    'Nodes or devices whose pairing was not filed or made at a pairing limit (logged as pairing.refused): see its reason; approve or reject pending requests, remove unused paired ones, or raise the limit.',
  swiftpmHelpers: 'SwiftPM test helpers from loopback opened and closed at once: not an error; nothing to do.',
  upgradeRejected:
    'Upgrades refused with HTTP 503: an address had too many sockets in their handshake (a reconnect loop, or many clients behind one proxy: then --max-preauth-per-address 0).',
  tcpDropped:
    'TCP connections were closed at once past --max-connections plus headroom: a flood of connections (idle ones that never upgrade, or a reconnect storm); raise --max-connections if the load is real.',
  lockedOut: 'Addresses locked out after repeated failed authentication: fix those clients\' credentials; the lockout ends by itself.',
  gatewayErrors: 'The gateway logged errors of its own: read those lines in full (they carry the error); they are not the clients\' doing.',
  corruptLines: 'actorgate lines that are not valid JSON: the log was cut or writes were interleaved; counts may miss those lines.',
  oversizedLines: 'Lines longer than 1 MiB were skipped unread: this is not a gateway log line; check what else writes to this file.',
} as const;
