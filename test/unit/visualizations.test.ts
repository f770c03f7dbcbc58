// The committed diagrams in visualizations/ are what `npm run visualize` generates from the machines,
// and the Mermaid text shows every state, every event and the delays by name.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMachine, setup, type AnyStateMachine, type AnyStateNode } from 'xstate';
import { isGeneratedFileName, renderAll, visualizationsDir } from '../../src/observability/visualize/generate.js';
import { machines } from '../../src/observability/visualize/machines.js';
import { toMermaid } from '../../src/observability/visualize/mermaid.js';
import { toImportableConfig } from '../../src/observability/visualize/stately.js';

const REGENERATE = 'run `npm run visualize` and commit visualizations/';

function stateNodes(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states as Record<string, AnyStateNode>).flatMap((child) => [child, ...stateNodes(child)]);
}

function allStates(machine: AnyStateMachine): AnyStateNode[] {
  return stateNodes(machine.root as AnyStateNode);
}

describe('visualizations/', () => {
  const dir = visualizationsDir();
  const generated = renderAll();

  it('holds exactly the files renderAll() generates, unchanged', () => {
    const stale: string[] = [];
    for (const [fileName, contents] of generated) {
      const path = join(dir, fileName);
      const committed = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
      if (committed !== contents) stale.push(`visualizations/${fileName} ${committed === undefined ? 'is missing' : 'differs'}`);
    }
    const extra = readdirSync(dir).filter((name) => isGeneratedFileName(name) && !generated.has(name));
    for (const name of extra) stale.push(`visualizations/${name} belongs to no machine`);
    expect(stale, `${stale.join('; ')}: ${REGENERATE}`).toEqual([]);
  });

  it('is generated deterministically', () => {
    expect([...renderAll()]).toEqual([...generated]);
    for (const { name } of machines) expect(() => JSON.parse(generated.get(`${name}.json`)!)).not.toThrow();
  });
});

describe.each(machines.map((entry) => [entry.name, entry] as const))('the %s diagram', (name, { machine }) => {
  const mermaid = toMermaid(machine);
  const lines = mermaid.split('\n');

  it('is a stateDiagram-v2 with a line for every state', () => {
    expect(lines[0]).toBe('stateDiagram-v2');
    for (const state of allStates(machine)) {
      const declaration = new RegExp(`^\\s*state "${state.key}" as s_[A-Za-z0-9_]+( \\{)?$`);
      expect(lines.some((line) => declaration.test(line)), `no line declares state ${state.id}`).toBe(true);
    }
  });

  it('labels every event, and delayed transitions with the delay name', () => {
    for (const state of allStates(machine)) {
      for (const eventType of state.transitions.keys()) {
        if (eventType.startsWith('xstate.')) continue;
        expect(mermaid, `event ${eventType} of ${state.id}`).toContain(`${eventType}`);
      }
      for (const delayed of state.after) {
        expect(typeof delayed.delay === 'string' ? mermaid : '', `delay of ${state.id}`).toContain(`after ${String(delayed.delay)}`);
      }
    }
  });

  it('shows only named actions and guards (inline ones belong in setup)', () => {
    expect(mermaid).not.toContain('(inline');
  });

  it('survives the trip through the Stately import config', () => {
    const config = toImportableConfig(machine);
    expect(toMermaid(createMachine(config as Parameters<typeof createMachine>[0]))).toBe(mermaid);
  });
});

describe('the delays of the machines', () => {
  it('are drawn by name', () => {
    expect(toMermaid(machines.find((entry) => entry.name === 'connection')!.machine)).toMatch(
      /s_handshaking --> s_closed : .*after handshakeTimeout \/ recordCause/,
    );
    expect(toMermaid(machines.find((entry) => entry.name === 'supervisor')!.machine)).toContain(
      'after tickInterval / broadcastTick (reenter)',
    );
    expect(toMermaid(machines.find((entry) => entry.name === 'invoke')!.machine)).toContain(
      's_pending --> s_timedOut : after invokeTimeout / recordTimeout',
    );
  });
});

describe('toMermaid', () => {
  const machine = setup({
    actions: { note: () => {}, tidy: () => {} },
    guards: { ok: () => true },
    delays: { patience: 10 },
  }).createMachine({
    id: 'sample',
    initial: 'idle',
    on: { RESET: '.idle', STOP: { target: '.stopped', actions: 'tidy' } },
    states: {
      idle: { on: { GO: { guard: 'ok', target: 'busy', actions: ['note', { type: 'tidy', params: { all: true } }] }, PING: { actions: 'note' } } },
      busy: {
        initial: 'one',
        after: { patience: 'idle', 250: 'stopped' },
        on: { STOP: 'idle' },
        states: { one: { on: { NEXT: 'two' } }, two: { type: 'final' } },
      },
      stopped: { type: 'final' },
    },
  });
  const mermaid = toMermaid(machine);

  it('nests compound states and marks initial and final states', () => {
    expect(mermaid).toContain('  state "busy" as s_busy {\n    [*] --> s_busy_one\n');
    expect(mermaid).toContain('    s_busy_two --> [*]\n');
    expect(mermaid).toContain('  s_stopped --> [*]\n');
    expect(mermaid.startsWith('stateDiagram-v2\n  [*] --> s_idle\n')).toBe(true);
  });

  it('labels events, guards, actions and delays', () => {
    expect(mermaid).toContain('s_idle --> s_busy : GO [ok] / note, tidy');
    expect(mermaid).toMatch(/s_busy --> s_idle : .*after patience/);
    expect(mermaid).toMatch(/s_busy --> s_stopped : .*after 250ms/);
  });

  it('draws internal transitions as self-loops', () => {
    expect(mermaid).toMatch(/s_idle --> s_idle : .*PING \/ note/);
  });

  it('draws root transitions from each top-level state they apply to', () => {
    // STOP: busy handles it itself, the final state handles nothing.
    expect(mermaid).toMatch(/s_idle --> s_stopped : STOP \/ tidy/);
    expect(mermaid).not.toMatch(/s_busy --> s_stopped : .*STOP/);
    expect(mermaid).not.toMatch(/s_stopped --> s_/);
    expect(mermaid).toMatch(/s_busy --> s_idle : .*RESET/);
  });

  it('is stable', () => {
    expect(toMermaid(machine)).toBe(mermaid);
  });
});
