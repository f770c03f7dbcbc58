// The machines drawn into visualizations/ by `npm run visualize`, one line each: `name` names the files
// (visualizations/<name>.mmd, .md, .json, .stately.js); `source`, the file defining the machine, defaults
// to machines/<name>.ts.
import type { AnyStateMachine } from 'xstate';
import { clientMachine } from '../../../machines/client.js';
import { connectionMachine } from '../../../machines/connection.js';
import { invokeMachine } from '../../../machines/invoke.js';
import { supervisorMachine } from '../../../machines/supervisor.js';

export interface DrawnMachine {
  name: string;
  machine: AnyStateMachine;
  /** The file that defines the machine, relative to the project root; machines/<name>.ts when absent. */
  source?: string;
}

export const machines: readonly DrawnMachine[] = [
  { name: 'connection', machine: connectionMachine },
  { name: 'supervisor', machine: supervisorMachine },
  { name: 'invoke', machine: invokeMachine },
  { name: 'client', machine: clientMachine },
];
