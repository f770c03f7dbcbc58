// Every generated path of every machine, replayed against a real actor: after each step the actor's
// state, context and taken transitions must equal the model's.
import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../../machines/connection.js';
import { describePath, generatePaths, replayPath, type ModelSpec } from './graph.js';
import { models } from './machines.js';

describe.each(models)('$name paths', (spec) => {
  const paths = generatePaths(spec);
  it.each(paths.map((path) => [describePath(path), path] as const))('%s', (_, path) => {
    replayPath(path, spec);
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
