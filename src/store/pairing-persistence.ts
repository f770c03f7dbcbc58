// Every change of the pairing state is saved, and the supervisor hears when it is on disk (or that it
// could not be saved): what lets it hold back the answers and announcements that depend on a change.
import type { PairingState } from '../../machines/pairing.js';
import type { SupervisorEvent } from '../../machines/supervisor.js';
import type { Logger } from 'pino';
import { DurabilityTracker } from './durability.js';
import type { JsonFileStore } from './json-file-store.js';

export interface PairingPersistenceOptions {
  /** Where the state is written; without one it lives in memory, durable as soon as it exists. */
  store: JsonFileStore<PairingState> | undefined;
  /** The newest revision and its state, read when a write starts. */
  snapshot(): { revision: number; state: PairingState };
  /** Reports to the supervisor, while it still takes events. */
  report(event: Extract<SupervisorEvent, { type: 'pairing.persisted' | 'pairing.persistFailed' }>): void;
  logger: Logger;
}

export function persistPairing({ store, snapshot, report, logger }: PairingPersistenceOptions): DurabilityTracker<PairingState> {
  return new DurabilityTracker<PairingState>(store ? (state) => store.save(state) : undefined, snapshot, {
    onPersisted: (revision) => report({ type: 'pairing.persisted', revision }),
    onFailed: (revision, error) => {
      logger.error({ err: error, event: 'pairing.save_failed', revision }, 'could not save pairing state');
      report({ type: 'pairing.persistFailed', revision, message: error instanceof Error ? error.message : String(error) });
    },
  });
}
