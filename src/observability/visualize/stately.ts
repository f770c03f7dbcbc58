// A machine as a literal `createMachine({...})` call, for the Stately editor's "Import from code".
// The importer reads code statically, so this config holds only literals: states, targets, event
// names, and the NAMES of actions, guards, delays and invoked actors (their implementations stay in
// machines/). Parameterised actions keep their params when those are plain data; params computed from
// the event are dropped. Rebuilt from XState's resolved state-node tree, so it is the machine as XState
// sees it, whatever helpers its source uses.
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { actionName, guardName } from './mermaid.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const AFTER_EVENT_PREFIX = 'xstate.after.';

/** Plain data survives as is; anything holding a function (or not JSON at all) is dropped. */
function plainData(value: unknown): Json | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (Array.isArray(value)) {
    const items = value.map(plainData);
    return items.every((item) => item !== undefined) ? (items as Json[]) : undefined;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const result: JsonObject = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (item === undefined) continue;
      const data = plainData(item);
      if (data === undefined) return undefined;
      result[key] = data;
    }
    return result;
  }
  return undefined;
}

function isDelayBookkeeping(action: unknown): boolean {
  const fn = action as { type?: unknown; id?: unknown; sendId?: unknown };
  if (typeof action !== 'function') return false;
  const tag = fn.type === 'xstate.raise' ? fn.id : fn.type === 'xstate.cancel' ? fn.sendId : undefined;
  return typeof tag === 'string' && tag.startsWith(AFTER_EVENT_PREFIX);
}

function actionConfig(action: unknown): Json {
  if (action && typeof action === 'object' && typeof (action as { type?: unknown }).type === 'string') {
    const params = plainData((action as { params?: unknown }).params);
    const type = (action as { type: string }).type;
    return params === undefined ? type : { type, params };
  }
  return actionName(action);
}

function actionsConfig(actions: readonly unknown[]): Json[] {
  return actions.filter((action) => !isDelayBookkeeping(action)).map(actionConfig);
}

/** A target as the config would write it: a sibling's key, `.child.path` below the source, or `#id`. */
function targetRef(source: AnyStateNode, target: AnyStateNode): string {
  if (source.parent && target.parent === source.parent) return target.key;
  const below = target.path.slice(source.path.length);
  if (target.path.length > source.path.length && source.path.every((segment: string, i: number) => target.path[i] === segment)) {
    return `.${below.join('.')}`;
  }
  return `#${target.id}`;
}

function transitionConfig(source: AnyStateNode, transition: AnyTransitionDefinition): JsonObject {
  const config: JsonObject = {};
  const targets = transition.target ?? [];
  if (targets.length === 1) config.target = targetRef(source, targets[0]!);
  else if (targets.length > 1) config.target = targets.map((target) => targetRef(source, target));
  if (transition.guard !== undefined) config.guard = guardName(transition.guard);
  const actions = actionsConfig(transition.actions);
  if (actions.length > 0) config.actions = actions.length === 1 ? actions[0]! : actions;
  if (transition.reenter) config.reenter = true;
  if (transition.description !== undefined) config.description = transition.description;
  return config;
}

function transitionsConfig(source: AnyStateNode, transitions: AnyTransitionDefinition[]): Json {
  const configs = transitions.map((transition) => transitionConfig(source, transition));
  return configs.length === 1 ? configs[0]! : configs;
}

function stateConfig(node: AnyStateNode): JsonObject {
  const config: JsonObject = {};
  // The root's id is the machine's; a nested state keeps an explicit id (targets may refer to it).
  if (!node.parent || node.id !== [node.machine.id, ...node.path].join('.')) config.id = node.id;
  if (node.type === 'final' || node.type === 'parallel') config.type = node.type;
  if (node.type === 'history') {
    config.type = 'history';
    config.history = node.history === 'deep' ? 'deep' : 'shallow';
  }
  if (node.description !== undefined) config.description = node.description;
  const initial = node.type === 'compound' ? node.initial?.target[0] : undefined;
  if (initial) config.initial = initial.key;
  const tags = plainData(node.tags);
  if (Array.isArray(tags) && tags.length > 0) config.tags = tags;
  const entry = actionsConfig(node.entry);
  if (entry.length > 0) config.entry = entry;
  const exit = actionsConfig(node.exit);
  if (exit.length > 0) config.exit = exit;

  const on: JsonObject = {};
  const after: JsonObject = {};
  const invokeHandlers = new Map<string, JsonObject>();
  for (const [eventType, transitions] of node.transitions as Map<string, AnyTransitionDefinition[]>) {
    const delay = (transitions[0] as { delay?: unknown } | undefined)?.delay;
    const invokeMatch = /^xstate\.(done\.actor|error\.actor|snapshot)\.(.*)$/.exec(eventType);
    if (delay !== undefined) {
      after[String(delay)] = transitionsConfig(node, transitions);
    } else if (eventType.startsWith('xstate.done.state.')) {
      config.onDone = transitionsConfig(node, transitions);
    } else if (invokeMatch) {
      const key = invokeMatch[1] === 'done.actor' ? 'onDone' : invokeMatch[1] === 'error.actor' ? 'onError' : 'onSnapshot';
      const handlers = invokeHandlers.get(invokeMatch[2] ?? '') ?? {};
      handlers[key] = transitionsConfig(node, transitions);
      invokeHandlers.set(invokeMatch[2] ?? '', handlers);
    } else if (eventType !== 'xstate.route') {
      on[eventType] = transitionsConfig(node, transitions);
    }
  }
  if (node.invoke.length > 0) {
    config.invoke = node.invoke.map((invoked, index) => {
      const src = typeof invoked.src === 'string' ? invoked.src : invoked.id;
      // XState names an invoke without an id `<index>.<state id>`; that one needs no writing down.
      const generatedId = `${index}.${node.id}`;
      return { src, ...(invoked.id === generatedId ? {} : { id: invoked.id }), ...(invokeHandlers.get(invoked.id) ?? {}) };
    });
  }
  if (Object.keys(on).length > 0) config.on = on;
  if (Object.keys(after).length > 0) config.after = after;
  if (node.always && node.always.length > 0) config.always = transitionsConfig(node, node.always);

  const children = Object.values(node.states) as AnyStateNode[];
  if (children.length > 0) {
    const states: JsonObject = {};
    for (const child of children) states[child.key] = stateConfig(child);
    config.states = states;
  }
  return config;
}

/** The machine's config with literals only (names instead of implementations). */
export function toImportableConfig(machine: AnyStateMachine): JsonObject {
  return stateConfig(machine.root as AnyStateNode);
}

/** The `createMachine({...})` code the Stately editor imports, ending with a newline. */
export function toImportableCode(machine: AnyStateMachine, source: string): string {
  const header = [
    `// Generated by \`npm run visualize\` from ${source}: do not edit.`,
    '// Stately editor (stately.ai/editor): Code panel > Import, paste the contents of this file.',
    '// Names of actions, guards and delays only: their implementations live in the source file.',
  ];
  return `${header.join('\n')}\ncreateMachine(${JSON.stringify(toImportableConfig(machine), null, 2)});\n`;
}
