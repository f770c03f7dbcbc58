// A tiny scenario runner for the machines, portable to any JavaScript runtime: plain ESM, no Node
// imports or globals. Each group file registers its scenarios with `scenario(name, fn)`; assertions throw.
// A new machine gets one file in scenarios/ and one line in GROUPS.
import * as connection from './scenarios/connection.mjs';
import * as supervisor from './scenarios/supervisor.mjs';
import * as supervisorNodes from './scenarios/supervisor-nodes.mjs';
import * as invoke from './scenarios/invoke.mjs';
import * as deviceProof from './scenarios/device-proof.mjs';
import * as client from './scenarios/client.mjs';

const GROUPS = [connection, supervisor, supervisorNodes, invoke, deviceProof, client];
const SCENARIO_TIMEOUT_MS = 5_000;

/**
 * Runs every scenario against the built modules.
 * @param {{ machinesBase: string, authBase: string, crypto: object }} env base URLs of dist/machines and
 *   dist/src/auth (no trailing slash), and the runtime's Ed25519 DeviceCrypto
 * @returns {Promise<{ passed: number, failed: number, failures: { name: string, message: string }[] }>}
 */
export async function runScenarios({ machinesBase, authBase, crypto }) {
  const scenarios = [];
  const failures = [];
  let current = '';
  const scenario = (name, fn) => scenarios.push({ name: `${current}: ${name}`, fn });
  for (const group of GROUPS) {
    current = group.group;
    try {
      await group.define({ scenario, assert, machinesBase, authBase, crypto });
    } catch (error) {
      failures.push({ name: `${group.group}: loading`, message: messageOf(error) });
    }
  }
  let passed = 0;
  for (const { name, fn } of scenarios) {
    try {
      await withTimeout(Promise.resolve().then(fn), SCENARIO_TIMEOUT_MS);
      passed++;
    } catch (error) {
      failures.push({ name, message: messageOf(error) });
    }
  }
  return { passed, failed: failures.length, failures };
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

export class AssertionError extends Error {}

function show(value) {
  try {
    return JSON.stringify(value, (_, v) => (v instanceof Map ? [...v] : v instanceof Uint8Array ? [...v] : v));
  } catch {
    return String(value);
  }
}

/** Deep equality of JSON-like values; keys holding `undefined` count as absent (as on the wire). */
function deepEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((item, index) => deepEqual(item, b[index]));
  const keys = (o) => Object.keys(o).filter((key) => o[key] !== undefined).sort();
  const [ka, kb] = [keys(a), keys(b)];
  return deepEqual(ka, kb) && ka.every((key) => deepEqual(a[key], b[key]));
}

/** True when every key of `partial` matches in `actual` (recursively for plain objects). */
function matches(actual, partial) {
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) return deepEqual(actual, partial);
  if (typeof actual !== 'object' || actual === null) return false;
  return Object.keys(partial).every((key) => matches(actual[key], partial[key]));
}

export const assert = {
  ok(value, message = 'expected a truthy value') {
    if (!value) throw new AssertionError(`${message} (got ${show(value)})`);
  },
  equal(actual, expected, message = 'not equal') {
    if (!deepEqual(actual, expected)) throw new AssertionError(`${message}: expected ${show(expected)}, got ${show(actual)}`);
  },
  match(actual, partial, message = 'no match') {
    if (!matches(actual, partial)) throw new AssertionError(`${message}: expected ${show(actual)} to match ${show(partial)}`);
  },
  /** Some item of `list` matches `partial`. */
  contains(list, partial, message = 'not found') {
    if (!list.some((item) => matches(item, partial))) {
      throw new AssertionError(`${message}: ${show(partial)} not in ${show(list)}`);
    }
  },
  notContains(list, partial, message = 'unexpectedly found') {
    if (list.some((item) => matches(item, partial))) throw new AssertionError(`${message}: ${show(partial)} in ${show(list)}`);
  },
};
