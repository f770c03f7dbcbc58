// Model-based testing on top of xstate/graph: list every transition of a machine, generate event
// sequences (paths) that take them, and replay each path against a real actor.
// Time is part of the model: every timer the machine arms (an `after` transition or a delayed `raise`)
// is tracked with its due time, and the traversal fires the one due first, as the clock would.
import {
  createActor,
  fromCallback,
  type AnyActorLogic,
  type AnyActorRef,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  type ContextFrom,
  type EventFromLogic,
  type InputFrom,
  type InspectionEvent,
  type Snapshot,
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
  /**
   * Candidate events in a snapshot of the traversal of input `input` (its name), one payload per guard
   * branch. Timers are added automatically: the one due first fires its event (an `after` transition's
   * `xstate.after.*`, or the event of a delayed `raise`).
   */
  events: (snapshot: SnapshotFrom<TMachine>, input: string) => Array<EventFromLogic<TMachine>>;
  /** The part of the context that tells states apart; the whole context by default. Must be finite. */
  contextKey?: (context: ContextFrom<TMachine>) => unknown;
  /** `auto` (default): simple paths while they stay under SIMPLE_PATH_LIMIT per input, else shortest. */
  strategy?: 'simple' | 'shortest' | 'auto';
  /** The machine to replay, with its effects recording instead of acting. */
  provideEffects?: (record: EffectRecorder) => TMachine;
  /**
   * The machine reports to its parent (`sendParent`), so it runs as a child: the model gives it a parent
   * that ignores everything, the replay one that records each event it receives as a `parent:<type>` effect.
   */
  hasParent?: boolean;
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
  /** Ids of the edges the event took, those of the events it raised (without delay) included. */
  edges: string[];
  /** Model time of the step, in ms since the start: a timer's firing advances it to the timer's due time. */
  at: number;
  /** The id of the timer that delivered the event; absent for an event sent from outside. */
  timer?: string;
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
 * The edges `event` itself takes from `snapshot`, computed without running anything: for each active
 * leaf, the innermost state node whose candidates have a passing guard wins, exactly as the
 * interpreter's own selection (it calls the same `StateNode.next`). Follow-ups (raised events, `always`)
 * are not included: the traversal uses this only to drop events that take no transition at all, and
 * records the edges of a whole macrostep from the interpreter's own inspection events (observedTransition).
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

// ---------------------------------------------------------------------------------------------
// (b) The model: a machine snapshot, the model clock and the armed timers.

type ExecutableAction = { type: string; params?: unknown };

/** A timer the machine armed: `after` transitions arm `xstate.after.*`, a delayed `raise` its event. */
export interface ModelTimer {
  id: string;
  /** Model time at which it fires. */
  due: number;
  event: AnyEventObject;
}

export interface ModelState {
  snapshot: AnyMachineSnapshot;
  /** Model time, in ms since the start; only a timer's firing advances it. */
  now: number;
  /** Armed timers in the order they fire: by due time, then in the order they were armed. */
  timers: ModelTimer[];
  /** The edges the last event took (`(initial)` for the initial state). */
  via: string[];
}

/** Marks an event of the traversal as fired by the timer it names rather than sent from outside. */
const TIMER = '@timer';
type ModelEvent = AnyEventObject & { [TIMER]?: string };

/** A parent for machines that report to theirs: it ignores what it is sent. */
const silentParentLogic = fromCallback(() => {});

/**
 * A pure transition (nothing is executed: the actions are returned) that also returns the edges the
 * interpreter took in the whole macrostep, the transitions of the events the step raised included,
 * from its own `@xstate.microstep` inspection events.
 */
function observedTransition(spec: ModelSpec, snapshot: AnyMachineSnapshot, event: AnyEventObject) {
  const edges: string[] = [];
  const actions: ExecutableAction[] = [];
  const self = inertActor(spec, (inspection) => {
    if (inspection.type === '@xstate.microstep' && inspection.actorRef === self.ref) {
      edges.push(...inspection._transitions.map((definition) => edgeOf(definition).id));
    }
  });
  const next = spec.machine.transition(withClonedContext(snapshot), event, actorScopeOf(self.ref, actions));
  return { snapshot: next, actions, edges };
}

function observedInitialTransition(spec: ModelSpec, input: unknown) {
  const actions: ExecutableAction[] = [];
  const self = inertActor(spec, () => {});
  const snapshot = spec.machine.getInitialSnapshot(actorScopeOf(self.ref, actions), input) as AnyMachineSnapshot;
  return { snapshot, actions };
}

type Inspector = (inspection: InspectionEvent) => void;

/**
 * An actor that is never started, to stand for `self` in a pure transition (as xstate's `transition()`
 * does), inspected; with a parent when the machine needs one (inspection is then the parent's system's).
 */
function inertActor(spec: ModelSpec, inspect: Inspector): { ref: AnyActorRef } {
  const holder = {} as { ref: AnyActorRef };
  const observe: Inspector = (inspection) => {
    if (holder.ref) inspect(inspection);
  };
  holder.ref = spec.hasParent
    ? createActor(spec.machine, { parent: createActor(silentParentLogic, { inspect: observe }) })
    : createActor(spec.machine, { inspect: observe });
  return holder;
}

function actorScopeOf(self: AnyActorRef, actions: ExecutableAction[]) {
  return {
    self,
    defer: () => {},
    id: '',
    logger: () => {},
    sessionId: '',
    stopChild: () => {},
    system: self.system,
    emit: () => {},
    actionExecutor: (action: ExecutableAction) => void actions.push(action),
  } as unknown as Parameters<AnyStateMachine['transition']>[2];
}

/** The timers after a step's actions: delayed raises arm one (in firing order), cancels disarm one. */
function updateTimers(timers: ModelTimer[], now: number, actions: ExecutableAction[]): ModelTimer[] {
  let next = timers;
  for (const { type, params } of actions) {
    const { id, sendId, delay, event } = (params ?? {}) as { id?: string; sendId?: string; delay?: number; event?: AnyEventObject };
    if (type === 'xstate.raise' && typeof delay === 'number' && event) {
      const timerId = id ?? JSON.stringify(event);
      // The scheduler would not clear the first timeout: both would fire.
      if (next.some((timer) => timer.id === timerId)) throw new Error(`timer ${timerId} armed again while armed`);
      const timer = { id: timerId, due: now + delay, event };
      const at = next.findIndex((armed) => armed.due > timer.due);
      next = at === -1 ? [...next, timer] : [...next.slice(0, at), timer, ...next.slice(at)];
    }
    if (type === 'xstate.cancel' && sendId !== undefined) next = next.filter((timer) => timer.id !== sendId);
  }
  return next;
}

function initialModelState(spec: ModelSpec, input: unknown): ModelState {
  const { snapshot, actions } = observedInitialTransition(spec, input);
  return { snapshot, now: 0, timers: updateTimers([], 0, actions), via: ['(initial)'] };
}

/** One model step: an event from outside, or the firing of the timer due first. */
function advance(spec: ModelSpec, state: ModelState, event: ModelEvent): ModelState & { event: AnyEventObject; timer?: string } {
  const timerId = event[TIMER];
  let { now, timers } = state;
  let delivered: AnyEventObject = event;
  if (timerId !== undefined) {
    const [next, ...rest] = timers;
    if (next?.id !== timerId) throw new Error(`${spec.name}: timer ${timerId} is not the next to fire (next: ${next?.id ?? 'none armed'})`);
    [now, timers, delivered] = [next.due, rest, next.event];
  }
  const step = observedTransition(spec, state.snapshot, delivered);
  return {
    snapshot: step.snapshot,
    now,
    timers: updateTimers(timers, now, step.actions),
    via: step.edges,
    event: delivered,
    ...(timerId !== undefined ? { timer: timerId } : {}),
  };
}

function modelLogic(spec: ModelSpec): AnyActorLogic {
  return {
    transition: (state: ModelState, event: ModelEvent) => advance(spec, state, event),
    getInitialSnapshot: () => {
      throw new Error('the traversal starts from options.fromState');
    },
    getPersistedSnapshot: (state: ModelState) => state,
  } as unknown as AnyActorLogic;
}

// ---------------------------------------------------------------------------------------------
// (c) Path generation.

/**
 * A state is its value, the transitions that led to it, the distinguishing part of its context and
 * its armed timers with the time left until each fires.
 */
function stateSerializer(spec: ModelSpec) {
  return (state: ModelState) =>
    JSON.stringify({
      value: state.snapshot.value,
      status: state.snapshot.status,
      via: state.via,
      context: toComparable(spec.contextKey ? spec.contextKey(state.snapshot.context) : state.snapshot.context),
      timers: state.timers.map((timer) => [timer.id, timer.due - state.now]),
    });
}

/** The graph library wants its states to look like snapshots; it reads nothing of them but through the options. */
type TraversalState = ModelState & Snapshot<unknown>;
type Traversal = TraversalOptions<TraversalState, ModelEvent, unknown>;

function traversalOptions(spec: ModelSpec, input: string, initial: ModelState): Traversal {
  return {
    fromState: initial as TraversalState,
    events: (state) => {
      if (state.snapshot.status !== 'active') return [];
      const [next] = state.timers;
      return [...spec.events(state.snapshot, input), ...(next ? [{ ...next.event, [TIMER]: next.id }] : [])];
    },
    // Events that take no transition would only add duplicate states; a timer fires all the same.
    filterEvents: (state, event) => event[TIMER] !== undefined || takenEdges(state.snapshot, event).length > 0,
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

/** Recomputes the model states along `events` from a fresh initial state, with the edges each event takes and when. */
function simulate(spec: ModelSpec, named: NamedInput<unknown>, events: ModelEvent[]): PathStep[] {
  let state = initialModelState(spec, named.create());
  const steps: PathStep[] = [{ event: { type: 'xstate.init' }, snapshot: state.snapshot, edges: [], at: 0 }];
  for (const event of events) {
    const next = advance(spec, state, event);
    steps.push({ event: next.event, snapshot: next.snapshot, edges: next.via, at: next.now, ...(next.timer ? { timer: next.timer } : {}) });
    state = next;
  }
  return steps;
}

function pathsForInput(spec: ModelSpec, named: NamedInput<unknown>): ModelPath[] {
  const logic = modelLogic(spec);
  const options = traversalOptions(spec, named.name, initialModelState(spec, named.create()));
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
    steps: simulate(spec, named, path.steps.slice(1).map((step) => step.event)),
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

function describeStep(step: PathStep): string {
  return step.timer === undefined ? describeEvent(step.event) : `${describeEvent(step.event)} @${step.at}ms`;
}

export function describePath(path: ModelPath): string {
  const events = path.steps.slice(1).map(describeStep);
  return `[${path.input}] ${events.length ? events.join(' → ') : '(initial state)'}`;
}

/**
 * A clock that fires its timers one at a time, on demand, in the model's order: by due time, then in
 * the order they were set. (SimulatedClock fires every timer due by the new time at once.)
 */
export class SteppingClock {
  private readonly timeouts = new Map<number, { due: number; fn: () => void }>();
  private lastId = 0;
  private time = 0;

  now(): number {
    return this.time;
  }

  setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    this.timeouts.set(++this.lastId, { due: this.time + timeout, fn });
    return this.lastId;
  }

  clearTimeout(id: number): void {
    this.timeouts.delete(id);
  }

  /** Fires the timer due first and returns its due time, or undefined when none is set. */
  fireNext(): number | undefined {
    let first: [number, { due: number; fn: () => void }] | undefined;
    for (const entry of this.timeouts) if (!first || entry[1].due < first[1].due) first = entry;
    if (!first) return undefined;
    const [id, { due, fn }] = first;
    this.timeouts.delete(id);
    this.time = due;
    fn();
    return due;
  }
}

type AnyActor = ReturnType<typeof createActor<AnyStateMachine>>;

/** Sends the step's event, or fires the clock's next timer, which must be due when the model says. */
function deliver(actor: AnyActor, clock: SteppingClock, step: PathStep): string | undefined {
  if (step.timer === undefined) {
    actor.send(step.event);
    return undefined;
  }
  const due = clock.fireNext();
  return due === step.at ? undefined : `the next timer was due at ${due ?? '(none set)'} ms, the model's ${step.timer} at ${step.at} ms`;
}

interface Observed {
  /** Events the actor received during the step. */
  events: AnyEventObject[];
  edges: string[];
}

function compareStep(actual: AnyMachineSnapshot, observed: Observed, step: PathStep, index: number): string | undefined {
  const checks: Array<[string, unknown, unknown]> = [
    ['status', step.snapshot.status, actual.status],
    ['state value', comparable(step.snapshot.value), comparable(actual.value)],
    ['context', comparable(step.snapshot.context), comparable(actual.context)],
    ['children', Object.keys(step.snapshot.children).join(', '), Object.keys(actual.children).join(', ')],
  ];
  if (index > 0) {
    checks.push(['events received', comparable([step.event]), comparable(observed.events)]);
    checks.push(['transitions taken', step.edges.join(' | '), observed.edges.join(' | ')]);
  }
  const failed = checks.find(([, expected, got]) => expected !== got);
  if (!failed) return undefined;
  const [what, expected, got] = failed;
  return `step ${index} (${describeStep(step)}): ${what} differs\n  model: ${expected}\n  actor: ${got}`;
}

export interface ReplayResult {
  /** Effects and emitted events, in order; with `hasParent`, what the parent received. */
  effects: Array<{ type: string; params?: unknown }>;
  /** The actor's snapshot after the last step. */
  snapshot: AnyMachineSnapshot;
}

/**
 * Replays `path` against a real actor of the spec's machine (effects recorded, time simulated) and
 * throws on the first step where the actor's status, state value, context, children, received events
 * or taken transitions differ from the model's.
 */
export function replayPath(path: ModelPath, spec: ModelSpec): ReplayResult {
  const effects: ReplayResult['effects'] = [];
  const named = spec.inputs.find((candidate) => candidate.name === path.input);
  if (!named) throw new Error(`${spec.name} has no input named ${path.input}`);
  const machine = spec.provideEffects ? spec.provideEffects((type, params) => void effects.push({ type, params })) : spec.machine;
  const clock = new SteppingClock();
  const observed: Observed = { events: [], edges: [] };
  // Inspection starts inside createActor, before the actor can be named.
  const current: { actor?: AnyActor } = {};
  const inspect: Inspector = (inspection) => {
    if (inspection.actorRef !== current.actor) return;
    if (inspection.type === '@xstate.event') observed.events.push(inspection.event);
    if (inspection.type === '@xstate.microstep') observed.edges.push(...inspection._transitions.map((definition) => edgeOf(definition).id));
  };
  let parent: AnyActorRef | undefined;
  if (spec.hasParent) {
    const recordingParent = fromCallback(({ receive }) => {
      receive((event) => void effects.push({ type: `parent:${event.type}`, params: event }));
    });
    // A child shares its parent's system: the clock and the inspection are the parent's.
    parent = createActor(recordingParent, { clock, inspect }).start();
  }
  const actor = createActor(machine, { input: named.create(), ...(parent ? { parent } : { clock, inspect }) });
  current.actor = actor;
  actor.on('*', (emitted) => void effects.push({ type: `emit:${emitted.type}`, params: emitted }));
  actor.start();
  try {
    path.steps.forEach((step, index) => {
      observed.events.length = 0;
      observed.edges.length = 0;
      const early = index > 0 ? deliver(actor, clock, step) : undefined;
      const mismatch = early ? `step ${index} (${describeStep(step)}): ${early}` : compareStep(actor.getSnapshot(), observed, step, index);
      if (mismatch) throw new Error(`${spec.name} ${describePath(path)}\n${mismatch}`);
    });
    return { effects, snapshot: actor.getSnapshot() };
  } finally {
    // A child cannot be stopped on its own; its timers live on the stepping clock, which no one runs any more.
    if (parent) parent.stop();
    else actor.stop();
  }
}
