// Child process for test/e2e/store-crash.test.ts: approves devices forever until it is killed.
// Usage: node store-writer.mjs <compiled json-file-store.js> <state file>
// Each round loads the store, appends one to three "approved device" records with increasing counters (one save per
// record, not awaited, so saves coalesce), and prints a record's counter on stdout only once its save is durable.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const [modulePath, statePath] = process.argv.slice(2);
if (!modulePath || !statePath) throw new Error('usage: store-writer.mjs <json-file-store.js> <state file>');
const { JsonFileStore } = await import(pathToFileURL(modulePath).href);

function parse(value) {
  if (typeof value !== 'object' || value === null || value.version !== 1 || !Array.isArray(value.devices)) {
    throw new Error('expected {version: 1, devices: [...]}');
  }
  return value;
}

const store = new JsonFileStore({ path: statePath, empty: () => ({ version: 1, devices: [] }), parse });
process.stdout.write('ready\n');

for (;;) {
  const state = await store.load();
  let counter = state.devices.at(-1)?.counter ?? 0;
  const saves = [];
  for (let i = 1 + (counter % 3); i > 0; i--) {
    counter++;
    state.devices.push({
      deviceId: `device-${counter}`,
      counter,
      publicKey: randomBytes(32).toString('base64url'),
      approvedAtMs: Date.now(),
    });
    const acked = counter;
    saves.push(store.save(state).then(() => process.stdout.write(`${acked}\n`)));
  }
  await Promise.all(saves);
}
