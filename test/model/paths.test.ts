// Every generated path of every machine, replayed against a real actor: after each step the actor's
// state, context, children, received events and taken transitions must equal the model's.
import { describe, expect, it } from 'vitest';
import type { InvokeContext } from '../../machines/invoke.js';
import { connectionMachine } from '../../machines/connection.js';
import { describePath, generatePaths, replayPath, type ModelSpec } from './graph.js';
import { models } from './machines.js';

describe.each(models)('$name paths', (spec) => {
  const paths = generatePaths(spec);
  it.each(paths.map((path) => [describePath(path), path] as const))('%s', (_, path) => {
    replayPath(path, spec);
  });
});

describe('invoke paths', () => {
  const spec = models.find((candidate) => candidate.name === 'invoke')!;

  it('settle exactly once, telling the parent the outcome the final state stands for', () => {
    for (const path of generatePaths(spec)) {
      const { effects, snapshot } = replayPath(path, spec);
      const settled = effects.filter((effect) => effect.type === 'parent:invoke.settled').map((effect) => effect.params);
      const { invokeId, outcome } = snapshot.context as InvokeContext;
      if (snapshot.status !== 'done') {
        expect(settled, describePath(path)).toEqual([]);
        continue;
      }
      expect(settled, describePath(path)).toEqual([{ type: 'invoke.settled', invokeId, outcome }]);
      const expected = {
        resolved: { ok: true, payloadJSON: '{"exitCode":0}' },
        failed: { ok: false, error: { code: 'UNAVAILABLE' } },
        timedOut: { ok: false, error: { code: 'UNAVAILABLE', message: 'TIMEOUT: node invoke timed out' } },
        cancelled: { ok: false, error: { code: 'UNAVAILABLE' } },
      }[snapshot.value as 'resolved' | 'failed' | 'timedOut' | 'cancelled'];
      expect(outcome, describePath(path)).toMatchObject(expected);
      // The node is told to stop exactly when it may still be running the command, and before the answer.
      const cancels = effects.filter((effect) => effect.type === 'tellNodeToCancel');
      const mayStillRun = snapshot.value === 'timedOut' || snapshot.value === 'cancelled';
      expect(cancels, describePath(path)).toEqual(
        mayStillRun ? [{ type: 'tellNodeToCancel', params: { nodeConnId: 'node-conn-1', cancel: { invokeId, nodeId: 'node-1' } } }] : [],
      );
      if (mayStillRun) expect(effects.findIndex((effect) => effect.type === 'tellNodeToCancel')).toBeLessThan(effects.findIndex((effect) => effect.type === 'parent:invoke.settled'));
      if (snapshot.value === 'timedOut') expect(path.steps.at(-1)!.at, describePath(path)).toBe(10_000);
    }
  });
});

describe('replay', () => {
  it('fails on the first step where the actor diverges from the model', () => {
    const spec = models.find((candidate) => candidate.name === 'connection')!;
    // The model recognises the SwiftPM helper; this actor does not.
    const diverging: ModelSpec = {
      ...spec,
      provideEffects: () => connectionMachine.provide({ guards: { isSwiftPmHelperFromLoopback: () => false } }),
    };
    const helperClose = generatePaths(spec).find(
      (path) => path.input === 'loopback swiftpm helper' && path.steps.some((step) => step.edges.some((edge) => edge.includes('isSwiftPmHelperFromLoopback'))),
    )!;
    expect(() => replayPath(helperClose, diverging)).toThrow(/socket\.closed.*: context differs/);
  });
});
