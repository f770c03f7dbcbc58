#!/usr/bin/env node
// The compiled CLI lives in dist/ (built by `npm install` through the prepare script).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('actorgate: not built yet; run `npm install` (or `npm run build`) in the project first\n');
  process.exit(1);
}
await import(entry.href);
