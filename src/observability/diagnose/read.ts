// Reads a log stream line by line into a diagnosis.
import { createReadStream } from 'node:fs';
import { DiagnosisBuilder, type DiagnoseOptions, type LogRecord } from './aggregate.js';
import type { Diagnosis } from './diagnosis.js';
import { forEachLine } from './lines.js';

/**
 * Hands one line to the builder. Only lines that name actorgate are parsed, and the debug
 * `connection opened` line, the commonest at that level and one the diagnosis only counts, is
 * recognised without parsing; everything else is skipped on a substring test.
 */
export function readLine(line: string, builder: DiagnosisBuilder): void {
  if (!line.includes('actorgate') || line.charCodeAt(0) !== 123 /* { */) {
    builder.skipLine();
    return;
  }
  if (line.includes('"event":"connection.opened"') && line.includes('"service":"actorgate"')) {
    builder.openedLine();
    return;
  }
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    builder.corruptLine();
    return;
  }
  if (typeof record === 'object' && record !== null && !Array.isArray(record)) builder.add(record as LogRecord);
  else builder.skipLine();
}

export async function diagnoseStream(source: AsyncIterable<Buffer | string>, options: DiagnoseOptions = {}): Promise<Diagnosis> {
  const builder = new DiagnosisBuilder(options);
  const stats = await forEachLine(source, (line) => readLine(line, builder));
  builder.oversizedLines(stats.oversized);
  return builder.finish();
}

export function diagnoseFile(path: string, options: DiagnoseOptions = {}): Promise<Diagnosis> {
  return diagnoseStream(createReadStream(path, { highWaterMark: 1024 * 1024 }), options);
}
