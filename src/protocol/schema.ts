// Frame schemas, compiled once. Everything a peer sends is checked against these before a machine sees it.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ProtocolLimits } from '../../machines/protocol.js';

const NonEmptyString = Type.String({ minLength: 1 });
const Strings = Type.Array(Type.String());

export const RequestFrameSchema = Type.Object({
  type: Type.Literal('req'),
  id: NonEmptyString,
  method: NonEmptyString,
  params: Type.Optional(Type.Unknown()),
});

const ClientModeSchema = Type.Union(
  ['webchat', 'cli', 'ui', 'backend', 'node', 'probe', 'test'].map((mode) => Type.Literal(mode)),
);

// What presence and hello-ok carry is capped at connect (ProtocolLimits): over-long values are refused, not cut.
const chars = ProtocolLimits.maxClientFieldChars;
const ClientInfoSchema = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: chars.id }),
    displayName: Type.Optional(Type.String({ maxLength: chars.displayName })),
    version: Type.String({ minLength: 1, maxLength: chars.version }),
    platform: Type.String({ minLength: 1, maxLength: chars.platform }),
    deviceFamily: Type.Optional(Type.String({ maxLength: chars.deviceFamily })),
    modelIdentifier: Type.Optional(Type.String({ maxLength: chars.modelIdentifier })),
    mode: ClientModeSchema,
    instanceId: Type.Optional(Type.String({ maxLength: chars.instanceId })),
  },
  { additionalProperties: false },
);

const DeviceProofSchema = Type.Object(
  {
    id: NonEmptyString,
    publicKey: NonEmptyString,
    signature: NonEmptyString,
    signedAt: Type.Integer(),
    nonce: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const ConnectAuthSchema = Type.Object(
  {
    token: Type.Optional(Type.String()),
    bootstrapToken: Type.Optional(Type.String()),
    deviceToken: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const ConnectParamsSchema = Type.Object(
  {
    minProtocol: Type.Integer({ minimum: 1 }),
    maxProtocol: Type.Integer({ minimum: 1 }),
    client: ClientInfoSchema,
    caps: Type.Optional(Strings),
    commands: Type.Optional(Strings),
    permissions: Type.Optional(Type.Record(Type.String(), Type.Boolean())),
    pathEnv: Type.Optional(Type.String()),
    role: Type.Optional(Type.Union([Type.Literal('operator'), Type.Literal('node')])),
    scopes: Type.Optional(Type.Array(Type.String({ maxLength: ProtocolLimits.maxScopeChars }), { maxItems: ProtocolLimits.maxScopes })),
    device: Type.Optional(DeviceProofSchema),
    auth: Type.Optional(ConnectAuthSchema),
    locale: Type.Optional(Type.String()),
    userAgent: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export type RequestFrameValue = Static<typeof RequestFrameSchema>;
export type ConnectParamsValue = Static<typeof ConnectParamsSchema>;

export const RequestFrameCheck = TypeCompiler.Compile(RequestFrameSchema);
export const ConnectParamsCheck = TypeCompiler.Compile(ConnectParamsSchema);

/** One readable line about the first schema violation, e.g. `/client/mode: Expected union value`. */
export function firstSchemaError(check: typeof RequestFrameCheck | typeof ConnectParamsCheck, value: unknown): string {
  const error = check.Errors(value).First();
  if (!error) return 'invalid value';
  return `${error.path || '/'}: ${error.message}`;
}
