// What the gateway must do with a frame, worked out from the protocol (shared/PROTOCOL.md) on its own, not from the
// gateway's decoder: the fuzz tests compare the two. Also the fast-check arbitraries the fuzz tests share.
import fc from 'fast-check';

export const CLIENT_MODES = ['webchat', 'cli', 'ui', 'backend', 'node', 'probe', 'test'] as const;
export const PROTOCOL = { min: 3, max: 4 } as const;
/** ws refuses a message above this many bytes before the handshake (PROTOCOL.md: pre-auth max frame 64 KiB). */
export const PRE_AUTH_MAX_BYTES = 64 * 1024;

type Obj = Record<string, unknown>;
const isObject = (value: unknown): value is Obj => typeof value === 'object' && value !== null && !Array.isArray(value);
const isString = (value: unknown): value is string => typeof value === 'string';
const isNonEmptyString = (value: unknown): value is string => isString(value) && value.length > 0;
const isInteger = (value: unknown, min = -Infinity): value is number => Number.isInteger(value) && (value as number) >= min;
const isStringArray = (value: unknown) => Array.isArray(value) && value.every(isString);
const optional = (object: Obj, key: string, check: (value: unknown) => boolean) => !(key in object) || check(object[key]);
const onlyKeys = (object: Obj, keys: readonly string[]) => Object.keys(object).every((key) => keys.includes(key));

const CLIENT_KEYS = ['id', 'displayName', 'version', 'platform', 'deviceFamily', 'modelIdentifier', 'mode', 'instanceId'] as const;
const DEVICE_KEYS = ['id', 'publicKey', 'signature', 'signedAt', 'nonce'] as const;
const AUTH_KEYS = ['token', 'bootstrapToken', 'deviceToken', 'password'] as const;
const CONNECT_KEYS = [
  'minProtocol', 'maxProtocol', 'client', 'caps', 'commands', 'permissions', 'pathEnv', 'role', 'scopes', 'device', 'auth',
  'locale', 'userAgent',
] as const;

/** The client fields presence carries are capped at connect (ProtocolLimits.maxClientFieldChars, UTF-16 units). */
const CLIENT_FIELD_CHARS: Record<string, number> = { id: 128, displayName: 256, version: 128, platform: 128, deviceFamily: 128, modelIdentifier: 128, instanceId: 128 };
const withinChars = (key: string) => (value: unknown) => isString(value) && value.length <= CLIENT_FIELD_CHARS[key]!;
/** At most 16 scopes of at most 64 characters (ProtocolLimits.maxScopes, maxScopeChars). */
const isScopeList = (value: unknown) => isStringArray(value) && (value as string[]).length <= 16 && (value as string[]).every((scope) => scope.length <= 64);

export function isValidClient(value: unknown): boolean {
  return (
    isObject(value) &&
    onlyKeys(value, CLIENT_KEYS) &&
    isNonEmptyString(value.id) &&
    isNonEmptyString(value.version) &&
    isNonEmptyString(value.platform) &&
    (CLIENT_MODES as readonly unknown[]).includes(value.mode) &&
    ['id', 'version', 'platform'].every((key) => withinChars(key)(value[key])) &&
    ['displayName', 'deviceFamily', 'modelIdentifier', 'instanceId'].every((key) => optional(value, key, withinChars(key)))
  );
}

export function isValidDevice(value: unknown): boolean {
  return (
    isObject(value) &&
    onlyKeys(value, DEVICE_KEYS) &&
    isNonEmptyString(value.id) &&
    isNonEmptyString(value.publicKey) &&
    isNonEmptyString(value.signature) &&
    isInteger(value.signedAt) &&
    optional(value, 'nonce', isString)
  );
}

export function isValidAuth(value: unknown): boolean {
  return isObject(value) && onlyKeys(value, AUTH_KEYS) && AUTH_KEYS.every((key) => optional(value, key, isString));
}

/** Connect params as PROTOCOL.md has them (unknown keys rejected), with protocol numbers at least 1 and non-empty ids. */
export function isValidConnectParams(value: unknown): value is Obj {
  return (
    isObject(value) &&
    onlyKeys(value, CONNECT_KEYS) &&
    isInteger(value.minProtocol, 1) &&
    isInteger(value.maxProtocol, 1) &&
    isValidClient(value.client) &&
    optional(value, 'caps', isStringArray) &&
    optional(value, 'commands', isStringArray) &&
    optional(value, 'permissions', (p) => isObject(p) && Object.values(p).every((v) => typeof v === 'boolean')) &&
    optional(value, 'pathEnv', isString) &&
    optional(value, 'role', (role) => role === 'operator' || role === 'node') &&
    optional(value, 'scopes', isScopeList) &&
    optional(value, 'device', isValidDevice) &&
    optional(value, 'auth', isValidAuth) &&
    optional(value, 'locale', isString) &&
    optional(value, 'userAgent', isString)
  );
}

/** The protocol both sides speak: the highest version in [min, max] and in 3..4. */
export function sharedProtocol(min: number, max: number): number | undefined {
  for (let version = PROTOCOL.max; version >= PROTOCOL.min; version--) if (min <= version && version <= max) return version;
  return undefined;
}

/** How the decoder must classify a text frame. */
export type Classified =
  | { kind: 'malformed'; id?: string }
  | { kind: 'request'; id: string; method: string }
  | { kind: 'connectInvalid'; id: string }
  | { kind: 'connect'; id: string; params: Obj };

/** Nesting depth (the value itself is level 1), objects and arrays, and values (keys apart) of a parsed value; iterative. */
function measure(value: unknown): { depth: number; containers: number; values: number } {
  let depth = 0;
  let containers = 0;
  let values = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, level] = stack.pop()!;
    values++;
    if (typeof node !== 'object' || node === null) continue;
    containers++;
    depth = Math.max(depth, level);
    for (const child of Array.isArray(node) ? node : Object.values(node)) stack.push([child, level + 1]);
  }
  return { depth, containers, values };
}

/** Frames the gateway refuses before parsing (src/protocol/frame-scan.ts): its limits, from PROTOCOL.md and ProtocolLimits. */
const FRAME_LIMITS = { depth: 128 + 1, containers: 20_000, values: 200_000, echoedIdLength: 1_024 };

export function classify(text: string): Classified {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'malformed' };
  }
  const id = isObject(value) && isNonEmptyString(value.id) ? value.id : undefined;
  const { depth, containers, values } = measure(value);
  if (depth > FRAME_LIMITS.depth || containers > FRAME_LIMITS.containers || values > FRAME_LIMITS.values) {
    // Refused before parsing, answered with its id when it has one short enough to echo.
    return id === undefined || id.length > FRAME_LIMITS.echoedIdLength ? { kind: 'malformed' } : { kind: 'malformed', id };
  }
  if (!isObject(value) || value.type !== 'req' || id === undefined || !isNonEmptyString(value.method)) {
    return id === undefined ? { kind: 'malformed' } : { kind: 'malformed', id };
  }
  if (value.method !== 'connect') return { kind: 'request', id, method: value.method };
  return isValidConnectParams(value.params) ? { kind: 'connect', id, params: value.params } : { kind: 'connectInvalid', id };
}

/** What a client sees after sending `text` as its first frame: a close with code and reason, or hello-ok. */
export interface Expected {
  /** undefined: the handshake succeeds and the socket stays open. */
  code?: number;
  reason?: RegExp;
  /** The id of the one error response that comes before the close (or of hello-ok). */
  answers?: string;
}

export function expectedForFirstFrame(text: string, gatewayToken: string): Expected {
  const frame = classify(text);
  switch (frame.kind) {
    case 'malformed':
      return { code: 1002, reason: /^malformed frame$/, ...(frame.id ? { answers: frame.id } : {}) };
    case 'request':
      return { code: 1008, reason: /^connect required$/, answers: frame.id };
    case 'connectInvalid':
      return { code: 1002, reason: /^invalid connect params$/, answers: frame.id };
    case 'connect': {
      const { params } = frame;
      if (sharedProtocol(params.minProtocol as number, params.maxProtocol as number) === undefined) {
        return { code: 1002, reason: /^protocol mismatch$/, answers: frame.id };
      }
      // A random device proof never verifies; without one, only the gateway token lets a client in.
      if (params.device !== undefined) return { code: 1008, reason: /^(unauthorized|device)/, answers: frame.id };
      const token = (params.auth as Obj | undefined)?.token;
      if (token !== gatewayToken) return { code: 1008, reason: /^unauthorized: gateway token (missing|mismatch)$/, answers: frame.id };
      return { answers: frame.id };
    }
  }
}

/** Whether these bytes are valid UTF-8 (a text frame that is not is failed by the WebSocket layer with 1007). */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Arbitraries

const text = fc.string({ unit: 'binary', maxLength: 40 });
const json = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' });
const nearMisses = fc.constantFrom<unknown>(null, 0, -1, 1.5, '', '3', 'x', true, false, [], {}, [''], [1], { a: 1 });

/** A wrong value for a field that `accepts` tells apart; `undefined` means "leave the key out" (required fields only). */
function wrong(accepts: (value: unknown) => boolean, required: boolean): fc.Arbitrary<unknown> {
  const candidates = fc.oneof(nearMisses, json);
  const wrongValue = candidates.filter((value) => !accepts(value));
  return required ? fc.oneof(wrongValue, fc.constant(undefined)) : wrongValue;
}

const safeKey = fc.stringMatching(/^[a-z][a-zA-Z0-9]{0,8}$/);

/** Every field of connect params, and a wrong value for it (missing, mistyped, out of range, or an unknown key). */
export const CONNECT_FIELDS: { path: string; wrong: fc.Arbitrary<unknown> }[] = [
  { path: 'minProtocol', wrong: wrong((v) => isInteger(v, 1), true) },
  { path: 'maxProtocol', wrong: wrong((v) => isInteger(v, 1), true) },
  { path: 'client', wrong: wrong(isValidClient, true) },
  { path: 'client.id', wrong: fc.oneof(wrong(isNonEmptyString, true), fc.constant('i'.repeat(129))) },
  { path: 'client.version', wrong: wrong(isNonEmptyString, true) },
  { path: 'client.platform', wrong: wrong(isNonEmptyString, true) },
  { path: 'client.mode', wrong: fc.oneof(wrong((v) => (CLIENT_MODES as readonly unknown[]).includes(v), true), fc.constantFrom('CLI', 'agent', 'Node')) },
  { path: 'client.displayName', wrong: fc.oneof(wrong(isString, false), fc.integer({ min: 257, max: 20_000 }).map((n) => 'd'.repeat(n))) },
  { path: 'client.deviceFamily', wrong: wrong(isString, false) },
  { path: 'client.modelIdentifier', wrong: wrong(isString, false) },
  { path: 'client.instanceId', wrong: fc.oneof(wrong(isString, false), fc.constant('u'.repeat(129))) },
  { path: 'caps', wrong: wrong(isStringArray, false) },
  { path: 'commands', wrong: wrong(isStringArray, false) },
  { path: 'permissions', wrong: wrong((p) => isObject(p) && Object.values(p).every((v) => typeof v === 'boolean'), false) },
  { path: 'pathEnv', wrong: wrong(isString, false) },
  { path: 'role', wrong: fc.oneof(wrong((r) => r === 'operator' || r === 'node', false), fc.constantFrom('admin', 'Operator', 'nodes')) },
  {
    path: 'scopes',
    wrong: fc.oneof(wrong(isStringArray, false), fc.constant(Array.from({ length: 17 }, () => 'operator.read')), fc.constant(['s'.repeat(65)])),
  },
  { path: 'device', wrong: wrong(isValidDevice, false) },
  { path: 'device.id', wrong: wrong(isNonEmptyString, true) },
  { path: 'device.publicKey', wrong: wrong(isNonEmptyString, true) },
  { path: 'device.signature', wrong: wrong(isNonEmptyString, true) },
  { path: 'device.signedAt', wrong: wrong((v) => isInteger(v), true) },
  { path: 'device.nonce', wrong: wrong(isString, false) },
  { path: 'auth', wrong: wrong(isValidAuth, false) },
  { path: 'auth.token', wrong: wrong(isString, false) },
  { path: 'auth.bootstrapToken', wrong: wrong(isString, false) },
  { path: 'auth.deviceToken', wrong: wrong(isString, false) },
  { path: 'auth.password', wrong: wrong(isString, false) },
  { path: 'locale', wrong: wrong(isString, false) },
  { path: 'userAgent', wrong: wrong(isString, false) },
  // Unknown keys, at every level that rejects them.
  { path: '*', wrong: json },
  { path: 'client.*', wrong: json },
  { path: 'device.*', wrong: json },
  { path: 'auth.*', wrong: json },
];

/** Valid connect params with every optional field sometimes present, and a device and auth object always present. */
export const validConnectParams = fc.record(
  {
    minProtocol: fc.constantFrom(1, 2, 3),
    maxProtocol: fc.constantFrom(3, 4, 5, 99),
    client: fc.record(
      {
        id: fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
        version: fc.constantFrom('1.0.0', '2026.9.6'),
        platform: fc.constantFrom('linux', 'darwin', 'win32', 'ios'),
        mode: fc.constantFrom(...CLIENT_MODES),
        displayName: text,
        deviceFamily: text,
        modelIdentifier: text,
        instanceId: text,
      },
      { requiredKeys: ['id', 'version', 'platform', 'mode'] },
    ),
    caps: fc.array(text, { maxLength: 3 }),
    commands: fc.array(text, { maxLength: 3 }),
    permissions: fc.dictionary(text, fc.boolean(), { maxKeys: 3 }),
    pathEnv: text,
    role: fc.constantFrom('operator', 'node'),
    scopes: fc.array(fc.constantFrom('operator.read', 'operator.write', 'operator.admin', 'x'), { maxLength: 3 }),
    device: fc.record(
      {
        id: fc.string({ minLength: 1, maxLength: 64 }),
        publicKey: fc.string({ minLength: 1, maxLength: 44 }),
        signature: fc.string({ minLength: 1, maxLength: 88 }),
        signedAt: fc.integer({ min: 0, max: 2 ** 45 }),
        nonce: text,
      },
      { requiredKeys: ['id', 'publicKey', 'signature', 'signedAt'] },
    ),
    auth: fc.record({ token: text, bootstrapToken: text, deviceToken: text, password: text }, { requiredKeys: [] }),
    locale: text,
    userAgent: text,
  },
  { requiredKeys: ['minProtocol', 'maxProtocol', 'client', 'device', 'auth'] },
);

/** Sets (or, for `undefined`, deletes) a dotted path in a deep copy of `params`; `*` is a fresh unknown key. */
export function withField(params: Obj, path: string, value: unknown, extraKey: string): { params: Obj; pointer: string } {
  const copy = structuredClone(params);
  const parts = path.split('.');
  const last = parts.pop()!;
  let target: Obj = copy;
  for (const part of parts) target = target[part] as Obj;
  const key = last === '*' ? `zz${extraKey}` : last;
  if (value === undefined) delete target[key];
  else target[key] = value;
  return { params: copy, pointer: `/${[...parts, key].join('/')}` };
}

/** A connect frame with exactly one field of its params wrong, and the JSON pointer of that field. */
export const connectWithOneWrongField = fc
  .tuple(validConnectParams, fc.nat({ max: CONNECT_FIELDS.length - 1 }), safeKey, fc.string({ minLength: 1, maxLength: 12 }))
  .chain(([params, index, extraKey, id]) =>
    CONNECT_FIELDS[index]!.wrong.map((value) => {
      const { params: broken, pointer } = withField(params as Obj, CONNECT_FIELDS[index]!.path, value, extraKey);
      return { field: CONNECT_FIELDS[index]!.path, pointer, id, frame: { type: 'req', id, method: 'connect', params: broken } };
    }),
  );

/** Objects that look more or less like request frames: the interesting part of "arbitrary JSON". */
export const requestLike = fc.record(
  {
    type: fc.oneof({ arbitrary: fc.constant('req'), weight: 5 }, fc.constantFrom('res', 'event', 'REQ', ''), json),
    id: fc.oneof({ arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }), weight: 5 }, fc.constant(''), json),
    method: fc.oneof(
      { arbitrary: fc.constantFrom('connect', 'health', 'node.invoke', 'system-presence', ''), weight: 4 },
      fc.string({ unit: 'binary', maxLength: 16 }),
      json,
    ),
    params: fc.oneof(json, validConnectParams),
    extra: json,
  },
  { requiredKeys: [] },
);

/** Connect frames that pass the schema, with the right gateway token or not, and without a device most of the time. */
export function validConnectFrame(gatewayToken: string) {
  return fc
    .tuple(validConnectParams, fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom('right', 'wrong', 'missing'), fc.boolean(), fc.nat(4))
    .map(([params, id, token, keepDevice, protocolShift]) => {
      const { device, auth, ...rest } = params as Obj;
      const next: Obj = { ...rest, minProtocol: 1 + protocolShift, maxProtocol: Math.max(1 + protocolShift, rest.maxProtocol as number) };
      if (keepDevice && protocolShift === 0) next.device = device;
      const authed = { ...(auth as Obj) };
      if (token === 'right') authed.token = gatewayToken;
      else if (token === 'wrong') authed.token = `${gatewayToken}x`;
      else delete authed.token;
      next.auth = authed;
      return { type: 'req', id, method: 'connect', params: next };
    });
}

/** Text of any first frame: JSON of any shape, request-like JSON, connects right and wrong, text that is not JSON. */
export function anyFrameText(gatewayToken = 'token') {
  return fc.oneof(
    { arbitrary: fc.jsonValue({ stringUnit: 'binary' }).map((v) => JSON.stringify(v)), weight: 3 },
    { arbitrary: requestLike.map((v) => JSON.stringify(v)), weight: 4 },
    { arbitrary: validConnectFrame(gatewayToken).map((v) => JSON.stringify(v)), weight: 2 },
    { arbitrary: connectWithOneWrongField.map((v) => JSON.stringify(v.frame)), weight: 2 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 200 }), weight: 2 },
    { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 200 }), weight: 1 },
  );
}
