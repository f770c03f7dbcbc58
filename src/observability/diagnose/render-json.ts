// The diagnosis as one JSON document, for machines.
import type { Diagnosis } from './diagnosis.js';

export function renderJson(diagnosis: Diagnosis, source: string): string {
  return `${JSON.stringify({ source, ...diagnosis }, null, 2)}\n`;
}
