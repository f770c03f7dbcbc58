// Pairing state in the state dir (pairing.json, mode 0600): approved devices with their tokens and
// approved nodes with their command surfaces. Written atomically; checked against a schema on load.
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { EMPTY_PAIRING_STATE, type PairingState } from '../../machines/pairing.js';
import { JsonFileStore } from './json-file-store.js';

const Strings = Type.Array(Type.String());
const OptionalString = Type.Optional(Type.String());

const PairedDeviceSchema = Type.Object({
  deviceId: Type.String({ minLength: 1 }),
  publicKey: OptionalString,
  role: Type.Union([Type.Literal('operator'), Type.Literal('node')]),
  scopes: Strings,
  clientId: Type.String(),
  clientMode: Type.String(),
  displayName: OptionalString,
  platform: OptionalString,
  token: Type.String({ minLength: 1 }),
  createdAtMs: Type.Number(),
  approvedAtMs: Type.Number(),
  silent: Type.Boolean(),
});

const PairedNodeSchema = Type.Object({
  nodeId: Type.String({ minLength: 1 }),
  clientId: Type.String(),
  clientMode: Type.String(),
  displayName: OptionalString,
  platform: OptionalString,
  version: OptionalString,
  deviceFamily: OptionalString,
  caps: Strings,
  commands: Strings,
  createdAtMs: Type.Number(),
  approvedAtMs: Type.Number(),
  silent: Type.Boolean(),
});

const PairingStateCheck = TypeCompiler.Compile(
  Type.Object({ version: Type.Literal(1), devices: Type.Array(PairedDeviceSchema), nodes: Type.Array(PairedNodeSchema) }),
);

export function parsePairingState(value: unknown): PairingState {
  if (PairingStateCheck.Check(value)) return value as PairingState;
  const error = PairingStateCheck.Errors(value).First();
  throw new Error(`invalid pairing state at ${error?.path || '/'}: ${error?.message ?? 'unknown'}`);
}

export const PAIRING_FILE = 'pairing.json';

export function pairingStore(stateDir: string): JsonFileStore<PairingState> {
  return new JsonFileStore({
    path: join(stateDir, PAIRING_FILE),
    empty: () => EMPTY_PAIRING_STATE,
    parse: parsePairingState,
    fileMode: 0o600,
  });
}
