// Model-based testing on top of xstate/graph: list every transition of a machine, generate event
// sequences (paths) that take them, and replay each path against a real actor.
import {
  SimulatedClock,
  createActor,
  initialTransition,
  transition,
  type AnyActorLogic,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  type ContextFrom,
  type EventFromLogic,
  type InputFrom,
  type SnapshotFrom,
} from 'xstate';
import { TestModel, getAdjacencyMap, type TraversalOptions } from 'xstate/graph';

/** One transition of a machine, as declared. `id` is unique within the machine. */
export interface Edge {
  id: string;
  /** Id of the state node that declares the transition. */
  source: string;
  /** Event type, delayed events included (`xstate.after.<delay>.<stateNodeId>`). */
  event: string;
  /** Guard name or `(none)`, then `#<index>` of the branch in that event's candidate list. */
  guard: string;
  /** Target state node ids, comma-separated, or `(internal)`. */
  target: string;
}

export interface NamedInput<TInput> {
  name: string;
  /** A fresh input per call: the model and every replay get their own actors. */
  create: () => TInput;
}

export type EffectRecorder = (type: string, params?: unknown) => void;

export interface ModelSpec<TMachine extends AnyStateMachine = AnyStateMachine> {
  name: string;
  machine: TMachine;
  /** The traversal runs once per input, so guards that read input-derived context take both branches. */
  inputs: Array<NamedInput<InputFrom<TMachine>>>;
  /** Candidate events in a snapshot, one payload per guard branch. Delayed events are added automatically. */
  events: (snapshot: SnapshotFrom<TMachine>) => Array<EventFromLogic<TMachine>>;
  /** The part of the context that tells states apart; the whole context by default. Must be finite. */
  contextKey?: (context: ContextFrom<TMachine>) => unknown;
  /** `auto` (default): simple paths while they stay under SIMPLE_PATH_LIMIT per input, else shortest. */
  strategy?: 'simple' | 'shortest' | 'auto';
  /** The machine to replay, with its effects recording instead of acting. */
  provideEffects?: (record: EffectRecorder) => TMachine;
}

/** Erases the machine type so specs of different machines fit one registry. */
export function defineModel<TMachine extends AnyStateMachine>(spec: ModelSpec<TMachine>): ModelSpec {
  return spec as unknown as ModelSpec;
}

export interface PathStep {
  /** `xstate.init` for the first step. */
  event: AnyEventObject;
  /** The model's snapshot after the event. */
  snapshot: AnyMachineSnapshot;
  /** Ids of the edges the event took. */
  edges: string[];
  /** Model time of the step, in ms since the start: delayed events advance it to their timer's due time. */
  at: number;
}

export interface ModelPath {
  machine: string;
  input: string;
  /** How the traversal for this input generated its paths. */
  strategy: 'simple' | 'shortest';
  steps: PathStep[];
}

export const SIMPLE_PATH_LIMIT = 200;

// ---------------------------------------------------------------------------------------------
// (a) The machine's transitions, from its state nodes.

export function listStateNodes(machine: AnyStateMachine): AnyStateNode[] {
  const walk = (node: AnyStateNode): AnyStateNode[] => [node, ...Object.values(node.states).flatMap(walk)];
  return walk(machine.root);
}

export function listTransitions(machine: AnyStateMachine): Edge[] {
  return listStateNodes(machine).flatMap((node) =>
    [...node.transitions.values(), node.always ?? []].flatMap((candidates) => candidates.map(edgeOf)),
  );
}

function guardName(guard: AnyTransitionDefinition['guard']): string {
  if (guard === undefined) return '(none)';
  if (typeof guard === 'string') return guard;
  // An inline `guard: (...) => ...` is named after its property.
  if (typeof guard === 'function') return guard.name && guard.name !== 'guard' ? guard.name : '(inline)';
  return String((guard as { type?: unknown }).type ?? '(inline)');
}

/**
 * Describes a transition by position rather than identity, so a transition of `machine.provide(...)`
 * (a copy with new state nodes) maps to the same edge as the original's.
 */
export function edgeOf(definition: AnyTransitionDefinition): Edge {
  const { source, eventType } = definition;
  const candidates = (eventType === '' ? source.always : source.transitions.get(eventType)) ?? [];
  const event = eventType === '' ? '(always)' : eventType;
  const guard = `${guardName(definition.guard)} #${candidates.indexOf(definition)}`;
  const target = definition.target?.length ? definition.target.map((node) => node.id).join(',') : '(internal)';
  return { id: `${source.id} --${event} [${guard}]--> ${target}`, source: source.id, event, guard, target };
}

// ---------------------------------------------------------------------------------------------
// (c) Which edges an event takes.

/** `StateNode.next` exists at runtime (the interpreter selects transitions with it) but is not typed. */
interface SelectingStateNode {
  next(snapshot: AnyMachineSnapshot, event: AnyEventObject): AnyTransitionDefinition[] | undefined;
}

/**
 * The edges `event` takes from `snapshot`, computed without running anything: for each active leaf,
 * the innermost state node whose candidates have a passing guard wins, exactly as the interpreter's
 * own selection (it calls the same `StateNode.next`). Eventless (`always`) follow-ups and conflicts
 * between parallel regions are not modelled; replayPath cross-checks every step against the
 * transitions the real actor reports through inspection, so any divergence fails loudly.
 */
export function takenEdges(snapshot: AnyMachineSnapshot, event: AnyEventObject): string[] {
  if (snapshot.status !== 'active') return [];
  const taken = new Set<string>();
  for (const leaf of snapshot._nodes.filter((node) => node.type === 'atomic' || node.type === 'final')) {
    for (let node: AnyStateNode | undefined = leaf; node; node = node.parent) {
      const selected = (node as unknown as SelectingStateNode).next(snapshot, event);
      if (selected) {
        for (const definition of selected) taken.add(edgeOf(definition).id);
        break;
      }
    }
  }
  return [...taken];
}

// ---------------------------------------------------------------------------------------------
// Comparable data: Maps keep their insertion order (it is state: presence age), actor refs become ids.

function isActorRef(value: object): value is { id: string; sessionId: string } {
  return 'sessionId' in value && 'send' in value && typeof (value as { send: unknown }).send === 'function';
}

export function toComparable(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Map) return { Map: [...value].map(([key, entry]) => [toComparable(key), toComparable(entry)]) };
  if (value instanceof Set) return { Set: [...value].map(toComparable) };
  if (Array.isArray(value)) return value.map(toComparable);
  if (isActorRef(value)) return { actor: value.id };
  return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, toComparable(entry)]));
}

const comparable = (value: unknown) => JSON.stringify(toComparable(value));

/** Deep copy of plain data (objects, arrays, Maps, Sets); anything else (actor refs) is shared. */
function cloneData<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Map) return new Map([...value].map(([key, entry]) => [key, cloneData(entry)])) as T;
  if (value instanceof Set) return new Set([...value].map(cloneData)) as T;
  if (Array.isArray(value)) return value.map(cloneData) as T;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, cloneData(entry)])) as T;
}

/**
 * The supervisor's `assign`s mutate its Maps in place, so a pure transition would also change the
 * snapshot it started from, which the traversal keeps and branches from. Every model transition
 * therefore starts from a copy.
 */
function withClonedContext(snapshot: AnyMachineSnapshot): AnyMachineSnapshot {
  return { ...snapshot, context: cloneData(snapshot.context) } as AnyMachineSnapshot;
}

function cloningLogic(machine: AnyStateMachine): AnyActorLogic {
  return {
    transition: (snapshot, event, actorScope) => machine.transition(withClonedContext(snapshot), event, actorScope),
    getInitialSnapshot: (actorScope, input) => machine.getInitialSnapshot(actorScope, input),
    getPersistedSnapshot: (snapshot) => machine.getPersistedSnapshot(snapshot),
  } as AnyActorLogic;
}

// ---------------------------------------------------------------------------------------------
// (b) Path generation.

const isDelayedEvent = (event: AnyEventObject) => event.type.startsWith('xstate.after.');

function delayedEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
  return snapshot._nodes.flatMap((node) => node.after.map((definition) => ({ type: definition.eventType })));
}

/** A state is its value, the transition that led to it and the distinguishing part of its context. */
function stateSerializer(spec: ModelSpec) {
  return (snapshot: AnyMachineSnapshot, event: AnyEventObject | undefined, previous?: AnyMachineSnapshot) =>
    JSON.stringify({
      value: snapshot.value,
      status: snapshot.status,
      via: event && previous ? takenEdges(previous, event) : ['(initial)'],
      context: toComparable(spec.contextKey ? spec.contextKey(snapshot.context) : snapshot.context),
    });
}

type Traversal = TraversalOptions<AnyMachineSnapshot, AnyEventObject, unknown>;

function traversalOptions(spec: ModelSpec, initial: AnyMachineSnapshot): Traversal {
  return {
    fromState: initial,
    events: (snapshot) => (snapshot.status === 'active' ? [...spec.events(snapshot), ...delayedEvents(snapshot)] : []),
    // Events that take no transition would only add duplicate states.
    filterEvents: (snapshot, event) => takenEdges(snapshot, event).length > 0,
    serializeState: stateSerializer(spec),
  };
}

/** Counts simple paths from the initial state (one per reachable end state), giving up past `limit`. */
function countSimplePaths(logic: AnyActorLogic, options: Traversal, limit: number): number {
  const adjacency = getAdjacencyMap(logic, options);
  const serialize = options.serializeState!;
  const onPath = new Set<string>();
  let count = 0;
  const visit = (key: string) => {
    count++;
    if (count > limit) return;
    onPath.add(key);
    const vertex = adjacency[key as keyof typeof adjacency]!;
    for (const { event, state } of Object.values(vertex.transitions)) {
      const next = serialize(state, event, vertex.state);
      if (!onPath.has(next)) visit(next);
    }
    onPath.delete(key);
  };
  visit(serialize(options.fromState!, undefined, undefined));
  return count;
}

type ModelActions = Array<{ type: string; params?: unknown }>;

/** Due times of the model's armed timers, from the delayed raises and cancels the pure transitions return. */
function updateTimers(timers: Map<string, number>, now: number, actions: ModelActions) {
  for (const { type, params } of actions) {
    const { id, sendId, delay } = (params ?? {}) as { id?: string; sendId?: string; delay?: number };
    if (type === 'xstate.raise' && id !== undefined && typeof delay === 'number') timers.set(id, now + delay);
    if (type === 'xstate.cancel' && sendId !== undefined) timers.delete(sendId);
  }
}

/** Recomputes the snapshots along `events` from the initial transition, with the edges each event takes and when. */
function simulate(spec: ModelSpec, [initial, initialActions]: [AnyMachineSnapshot, ModelActions], events: AnyEventObject[]) {
  const timers = new Map<string, number>();
  updateTimers(timers, 0, initialActions);
  const steps: PathStep[] = [{ event: { type: 'xstate.init' }, snapshot: initial, edges: [], at: 0 }];
  let [snapshot, now] = [initial, 0];
  for (const event of events) {
    if (isDelayedEvent(event)) {
      const due = timers.get(event.type);
      if (due === undefined) throw new Error(`${spec.name}: the model has no timer armed for ${event.type}`);
      timers.delete(event.type);
      now = due;
    }
    const edges = takenEdges(snapshot, event);
    const [next, actions] = transition(spec.machine, withClonedContext(snapshot), event);
    updateTimers(timers, now, actions);
    steps.push({ event, snapshot: next, edges, at: now });
    snapshot = next;
  }
  return steps;
}

function pathsForInput(spec: ModelSpec, named: NamedInput<unknown>): ModelPath[] {
  const start = initialTransition(spec.machine, named.create());
  const [initial] = start;
  const logic = cloningLogic(spec.machine);
  const options = traversalOptions(spec, initial);
  const strategy = spec.strategy ?? 'auto';
  const simple =
    strategy === 'simple' || (strategy === 'auto' && countSimplePaths(logic, options, SIMPLE_PATH_LIMIT) <= SIMPLE_PATH_LIMIT);
  const model = new TestModel(logic, options);
  const graphPaths = simple ? model.getSimplePaths() : model.getShortestPaths();
  // Only the event sequences are kept: a traversal that keys states on part of the context may hand
  // back a snapshot reached another way (same key, other unkeyed fields), so the steps are recomputed.
  return graphPaths.map((path) => ({
    machine: spec.name,
    input: named.name,
    strategy: simple ? 'simple' : 'shortest',
    steps: simulate(spec, start, path.steps.slice(1).map((step) => step.event)),
  }));
}

export function generatePaths(spec: ModelSpec): ModelPath[] {
  return spec.inputs.flatMap((named) => pathsForInput(spec, named));
}

// ---------------------------------------------------------------------------------------------
// Coverage.

export interface Coverage {
  states: string[];
  unreachedStates: string[];
  transitions: Edge[];
  uncovered: Edge[];
}

export function coverageOf(spec: ModelSpec, paths: ModelPath[]): Coverage {
  const steps = paths.flatMap((path) => path.steps);
  const taken = new Set(steps.flatMap((step) => step.edges));
  const reached = new Set(steps.flatMap((step) => step.snapshot._nodes.map((node) => node.id)));
  const states = listStateNodes(spec.machine).map((node) => node.id);
  const transitions = listTransitions(spec.machine);
  return {
    states,
    unreachedStates: states.filter((id) => !reached.has(id)),
    transitions,
    uncovered: transitions.filter((edge) => !taken.has(edge.id)),
  };
}

// ---------------------------------------------------------------------------------------------
// (d) Replay against a real actor.

function describeEvent(event: AnyEventObject): string {
  const fields = Object.entries(event)
    .filter(([key, value]) => key !== 'type' && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'))
    .map(([key, value]) => `${key}=${value}`);
  return fields.length ? `${event.type}(${fields.join(', ')})` : event.type;
}

export function describePath(path: ModelPath): string {
  const events = path.steps.slice(1).map((step) => describeEvent(step.event));
  return `[${path.input}] ${events.length ? events.join(' → ') : '(initial state)'}`;
}

type AnyActor = ReturnType<typeof createActor<AnyStateMachine>>;

/**
 * Sends the step's event; for a delayed event, advances the simulated clock to 1 ms before the model
 * says its timer is due, checks that nothing fired yet, then to the due time.
 */
function deliver(actor: AnyActor, clock: SimulatedClock, step: PathStep, observed: string[]): string | undefined {
  if (!isDelayedEvent(step.event)) {
    actor.send(step.event);
    return undefined;
  }
  if (step.at > clock.now()) {
    clock.increment(step.at - 1 - clock.now());
    if (observed.length) return `a timer fired before ${step.at} ms: ${observed.join(' | ')}`;
  }
  clock.increment(step.at - clock.now());
  return undefined;
}

function compareStep(actual: AnyMachineSnapshot, observedEdges: string[], step: PathStep, index: number): string | undefined {
  const checks: Array<[string, unknown, unknown]> = [
    ['status', step.snapshot.status, actual.status],
    ['state value', comparable(step.snapshot.value), comparable(actual.value)],
    ['context', comparable(step.snapshot.context), comparable(actual.context)],
  ];
  if (index > 0) checks.push(['transitions taken', step.edges.join(' | '), observedEdges.join(' | ')]);
  const failed = checks.find(([, expected, got]) => expected !== got);
  if (!failed) return undefined;
  const [what, expected, got] = failed;
  return `step ${index} (${describeEvent(step.event)}): ${what} differs\n  model: ${expected}\n  actor: ${got}`;
}

export interface ReplayResult {
  /** Effects and emitted events, in order. */
  effects: Array<{ type: string; params?: unknown }>;
}

/**
 * Replays `path` against a real actor of the spec's machine (effects recorded, time simulated) and
 * throws on the first step where the actor's status, state value, context or taken transitions
 * differ from the model's.
 */
export function replayPath(path: ModelPath, spec: ModelSpec): ReplayResult {
  const effects: ReplayResult['effects'] = [];
  const named = spec.inputs.find((candidate) => candidate.name === path.input);
  if (!named) throw new Error(`${spec.name} has no input named ${path.input}`);
  const machine = spec.provideEffects ? spec.provideEffects((type, params) => void effects.push({ type, params })) : spec.machine;
  const clock = new SimulatedClock();
  const observed: string[] = [];
  // Inspection starts inside createActor, before the actor can be named.
  const current: { actor?: AnyActor } = {};
  const actor = createActor(machine, {
    input: named.create(),
    clock,
    inspect: (inspection) => {
      if (inspection.type === '@xstate.microstep' && inspection.actorRef === current.actor) {
        observed.push(...inspection._transitions.map((definition) => edgeOf(definition).id));
      }
    },
  });
  current.actor = actor;
  actor.on('*', (emitted) => void effects.push({ type: `emit:${emitted.type}`, params: emitted }));
  actor.start();
  try {
    path.steps.forEach((step, index) => {
      observed.length = 0;
      const early = index > 0 ? deliver(actor, clock, step, observed) : undefined;
      const mismatch = early ? `step ${index} (${describeEvent(step.event)}): ${early}` : compareStep(actor.getSnapshot(), observed, step, index);
      if (mismatch) throw new Error(`${spec.name} ${describePath(path)}\n${mismatch}`);
    });
  } finally {
    actor.stop();
  }
  return { effects };
}
