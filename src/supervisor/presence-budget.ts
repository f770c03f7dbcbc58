// The presence list as clients are sent it (hello-ok, `system-presence`, the `presence` event) is at most
// ProtocolLimits.maxPresenceBytes of JSON: the newest entries that fit, and the gateway's own entry, which is
// last, always. Each entry's size is measured once (entries are made once, at join, and never changed).
import { ProtocolLimits, type PresenceEntry } from '../../machines/protocol.js';

const measured = new WeakMap<PresenceEntry, number>();

/** The entry's bytes in the list: its JSON and the comma after it. */
function bytesOf(entry: PresenceEntry): number {
  let bytes = measured.get(entry);
  if (bytes === undefined) {
    bytes = Buffer.byteLength(JSON.stringify(entry)) + 1;
    measured.set(entry, bytes);
  }
  return bytes;
}

/**
 * The list (newest first, the gateway's own entry last) cut to `maxBytes` of JSON: the newest entries that fit,
 * then the gateway's own. The list itself when it fits.
 */
export function boundedPresence(entries: PresenceEntry[], maxBytes: number = ProtocolLimits.maxPresenceBytes): PresenceEntry[] {
  const self = entries.at(-1);
  if (self === undefined) return entries;
  let budget = maxBytes - 2 - (bytesOf(self) - 1); // the brackets, and the gateway's own entry (no comma after it)
  let kept = 0;
  while (kept < entries.length - 1) {
    const bytes = bytesOf(entries[kept]!);
    if (bytes > budget) break;
    budget -= bytes;
    kept++;
  }
  return kept === entries.length - 1 ? entries : [...entries.slice(0, kept), self];
}
