// Splits a byte stream into text lines as chunks arrive, without ever holding more than one chunk and
// one unfinished line in memory.
import { StringDecoder } from 'node:string_decoder';

export interface LineStats {
  /** Lines handed to the callback (blank ones included). */
  lines: number;
  /** Lines longer than the limit, dropped without being handed over. */
  oversized: number;
}

/** No pino line of the gateway comes near this; a longer one is garbage, and holding it would cost memory. */
export const DEFAULT_MAX_LINE_CHARS = 1024 * 1024;

export async function forEachLine(
  source: AsyncIterable<Buffer | string>,
  onLine: (line: string) => void,
  maxLineChars = DEFAULT_MAX_LINE_CHARS,
): Promise<LineStats> {
  const decoder = new StringDecoder('utf8');
  const stats: LineStats = { lines: 0, oversized: 0 };
  let pending = '';
  // True while the rest of an oversized line is being skipped, up to its newline.
  let discarding = false;

  const emit = (line: string) => {
    stats.lines++;
    onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  };

  for await (const chunk of source) {
    const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let start = 0;
    let newline = text.indexOf('\n');
    while (newline !== -1) {
      if (discarding) discarding = false;
      else if (pending.length + newline - start > maxLineChars) stats.oversized++;
      else if (pending) {
        emit(pending + text.slice(start, newline));
      } else emit(text.slice(start, newline));
      pending = '';
      start = newline + 1;
      newline = text.indexOf('\n', start);
    }
    if (discarding) continue;
    pending += text.slice(start);
    if (pending.length > maxLineChars) {
      stats.oversized++;
      pending = '';
      discarding = true;
    }
  }
  pending += decoder.end();
  if (!discarding && pending) {
    if (pending.length > maxLineChars) stats.oversized++;
    else emit(pending);
  }
  return stats;
}
