// Runs the scenarios under Bun, with node:crypto's Ed25519 (Bun implements it): `bun run entry-bun.mjs`.
import { nodeDeviceCrypto } from '../../dist/src/auth/node-crypto.js';
import { report } from './report.mjs';
import { runScenarios } from './scenarios.mjs';

const base = (path) => new URL(path, import.meta.url).href;
const result = await runScenarios({
  machinesBase: base('../../dist/machines'),
  authBase: base('../../dist/src/auth'),
  crypto: nodeDeviceCrypto,
});
report(`bun ${Bun.version} (${nodeDeviceCrypto.name} verifier)`, result);
process.exitCode = result.failed === 0 ? 0 : 1;
