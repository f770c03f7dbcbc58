// The supervisor actor of a running gateway: presence, nodes, pairing and invokes, on the gateway's clock.
import { hostname } from 'node:os';
import { createActor, type ActorRefFrom, type InspectionEvent } from 'xstate';
import type { PairingLimits, PairingMode, PairingState } from '../../machines/pairing.js';
import { supervisorMachine, type InvokeLimits } from '../../machines/supervisor.js';
import type { CountingClock } from '../actors/clock.js';
import { GATEWAY_VERSION } from '../version.js';

export type SupervisorActor = ActorRefFrom<typeof supervisorMachine>;

export interface SupervisorOptions {
  /** The address the gateway listens on, for its own presence entry. */
  host: string;
  startedAt: number;
  tickIntervalMs: number;
  pairingMode: PairingMode;
  pairingTtlMs: number;
  pairingLimits: PairingLimits;
  /** Approved devices and nodes from the last run. */
  pairing: PairingState;
  invokeLimits: InvokeLimits;
  clock: CountingClock;
  inspect?: (event: InspectionEvent) => void;
}

/** The supervisor, created and not yet started (its emitted events are subscribed to first). */
export function createSupervisor(options: SupervisorOptions): SupervisorActor {
  return createActor(supervisorMachine, {
    input: {
      self: {
        host: hostname(),
        ip: options.host,
        version: GATEWAY_VERSION,
        platform: process.platform,
        mode: 'gateway',
        reason: 'self',
        ts: options.startedAt,
      },
      tickIntervalMs: options.tickIntervalMs,
      pairingMode: options.pairingMode,
      pairingRequestTtlMs: options.pairingTtlMs,
      pairingLimits: options.pairingLimits,
      pairing: options.pairing,
      invokeLimits: options.invokeLimits,
    },
    clock: options.clock,
    ...(options.inspect ? { inspect: options.inspect } : {}),
  });
}
