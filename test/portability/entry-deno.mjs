// Runs the scenarios under Deno, with the portable @noble/ed25519 verifier:
// `deno run --allow-read --node-modules-dir=manual entry-deno.mjs` (bare imports from the project's node_modules).
import { nobleDeviceCrypto } from '../../dist/src/auth/noble-crypto.js';
import { report } from './report.mjs';
import { runScenarios } from './scenarios.mjs';

const base = (path) => new URL(path, import.meta.url).href;
const result = await runScenarios({
  machinesBase: base('../../dist/machines'),
  authBase: base('../../dist/src/auth'),
  crypto: nobleDeviceCrypto,
});
report(`deno ${Deno.version.deno} (${nobleDeviceCrypto.name} verifier)`, result);
Deno.exit(result.failed === 0 ? 0 : 1);
