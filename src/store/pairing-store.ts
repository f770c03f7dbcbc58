// Pairing state in the state dir (pairing.json, mode 0600): approved devices with the hashes of their tokens
// and approved nodes with their command surfaces. Written atomically; checked against a schema on load.
// A file written before tokens were hashed holds them in plain text: loading it hashes them and writes the
// file again (atomically) before the gateway serves anyone, so a copy of it made afterwards grants nothing.
import { createHash } from 'node:crypto';
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
  /** Only in files written before tokens were hashed: migrated to `tokenHash` on load. */
  token: Type.Optional(Type.String({ minLength: 1 })),
  tokenHash: Type.Optional(Type.String({ pattern: '^sha256:[A-Za-z0-9_-]{43}$' })),
  tokenScopes: Type.Optional(Strings),
  tokenRotatedAtMs: Type.Optional(Type.Number()),
  tokenRevokedAtMs: Type.Optional(Type.Number()),
  operatorLabel: OptionalString,
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
  operatorLabel: OptionalString,
  createdAtMs: Type.Number(),
  approvedAtMs: Type.Number(),
  silent: Type.Boolean(),
});

const PairingStateCheck = TypeCompiler.Compile(
  Type.Object({ version: Type.Literal(1), devices: Type.Array(PairedDeviceSchema), nodes: Type.Array(PairedNodeSchema) }),
);

/** A file's pairing state: as the schema has it, which may still hold plain-text tokens (`token`). */
type StoredPairingState = Omit<PairingState, 'devices'> & { devices: Array<PairingState['devices'][number] & { token?: string }> };

export function parsePairingState(value: unknown): PairingState {
  if (PairingStateCheck.Check(value)) return value as PairingState;
  const error = PairingStateCheck.Errors(value).First();
  throw new Error(`invalid pairing state at ${error?.path || '/'}: ${error?.message ?? 'unknown'}`);
}

/** The same digest as the auth layer's `hashDeviceToken` (`sha256:` and base64url), which a test checks. */
function hashToken(token: string): string {
  return 'sha256:' + createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** The state with every plain-text token replaced by its hash, and how many there were. */
export function hashPlainTokens(state: PairingState): { state: PairingState; migrated: number } {
  let migrated = 0;
  const devices = (state as StoredPairingState).devices.map((stored) => {
    const { token, ...device } = stored;
    if (token === undefined) return device;
    migrated += 1;
    // A hash already there is newer than the token beside it (a rotation): keep it.
    return device.tokenHash !== undefined ? device : { ...device, tokenHash: hashToken(token) };
  });
  return { state: { ...state, devices }, migrated };
}

/**
 * Loads the pairing state; a file still holding plain-text tokens is rewritten with their hashes first. The
 * write is atomic, so a crash at any moment leaves the old file (migrated again on the next start) or the new.
 */
export async function loadPairingState(
  store: JsonFileStore<PairingState>,
  report: { migrating?: (devices: number) => void; migrated?: (devices: number) => void } = {},
): Promise<PairingState> {
  const { state, migrated } = hashPlainTokens(await store.load());
  if (migrated > 0) {
    report.migrating?.(migrated);
    await store.save(state);
    report.migrated?.(migrated);
  }
  return state;
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
