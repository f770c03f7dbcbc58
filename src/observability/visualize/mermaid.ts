// A machine as a Mermaid `stateDiagram-v2`, read from XState's resolved state-node tree (the same
// tree `machine.toJSON()` serialises). Pure and deterministic: states, transitions and actions keep the
// machine's own document order, which is also the order XState tries guarded alternatives in.
//
// How the machine maps onto the diagram:
// - every state node is a Mermaid state whose id is `s_` + its path (`s_handshaking_awaitingConnect`), whose
//   label is its key; compound states are `state X { ... }` blocks, parallel regions are split by `--`;
// - `[*] --> child` marks each compound's initial child, `final --> [*]` each final state;
// - a transition is `source --> target : event [guard] / action, action`; a delayed one is labelled with
//   the delay's name from the config (`after handshakeTimeout`), an eventless one `always`;
// - a transition without a target (internal: actions only) is a self-loop on its state;
// - the root is not drawn as a state, so a transition declared on the root is drawn from each
//   top-level state it applies to: every non-final one that has no unguarded handler of its own for
//   that event; a transition declared on a nested compound is drawn from that compound's border;
// - transitions sharing a source and a target share one arrow, its label one bulleted line per transition;
// - entry/exit actions and invoked actors are listed inside their state.
// Actions named in `setup` show their name (parameterised ones `{ type, params }` show `type`); an
// inline action has no name and shows as `(inline assign)`, `(inline)`: name it in setup instead.
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

const AFTER_EVENT_PREFIX = 'xstate.after.';
const LABEL_SEPARATOR = '<br/>';
const BULLET = '\u2022 ';

interface Edge {
  source: AnyStateNode;
  target: AnyStateNode;
  /** One label per transition, in document order. */
  labels: string[];
}

type Named = { type?: unknown; name?: unknown; params?: unknown };

/** The display name of one action as configured: its name in setup, or a marker for an inline one. */
export function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') {
    const fn = action as Named;
    // Built-in action creators (assign, raise, sendTo, emit, enqueueActions...) carry their kind in `type`.
    if (typeof fn.type === 'string') return `(inline ${fn.type.replace(/^xstate\./, '')})`;
    return '(inline)';
  }
  if (action && typeof action === 'object' && typeof (action as Named).type === 'string') return (action as Named).type as string;
  return '(inline)';
}

/** The display name of a guard: its name in setup, `and(a, b)`/`or(...)`/`not(a)`, or a marker. */
export function guardName(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const fn = guard as Named & { guards?: unknown[]; stateValue?: unknown };
    if (Array.isArray(fn.guards) && typeof fn.name === 'string' && ['and', 'or', 'not'].includes(fn.name)) {
      return `${fn.name}(${fn.guards.map(guardName).join(', ')})`;
    }
    if (fn.stateValue !== undefined) return `stateIn(${JSON.stringify(fn.stateValue)})`;
    return '(inline)';
  }
  if (guard && typeof guard === 'object' && typeof (guard as Named).type === 'string') return (guard as Named).type as string;
  return '(inline)';
}

/** Actions XState adds itself to schedule and cancel `after` timers: not the machine's own. */
function isDelayBookkeeping(action: unknown): boolean {
  if (typeof action !== 'function') return false;
  const fn = action as { type?: unknown; id?: unknown; sendId?: unknown };
  if (fn.type === 'xstate.raise') return typeof fn.id === 'string' && fn.id.startsWith(AFTER_EVENT_PREFIX);
  if (fn.type === 'xstate.cancel') return typeof fn.sendId === 'string' && fn.sendId.startsWith(AFTER_EVENT_PREFIX);
  return false;
}

function actionList(actions: readonly unknown[]): string[] {
  return actions.filter((action) => !isDelayBookkeeping(action)).map(actionName);
}

/**
 * Mermaid text is line-based, `;` ends a statement, `#` starts an entity, `"` ends a state's label and
 * `<...>` is taken for HTML and removed: keep labels to text that renders as written.
 */
function labelText(text: string): string {
  return text
    .replace(/[\r\n]+/g, ' ')
    .replace(/;/g, ',')
    .replace(/#/g, '')
    .replace(/"/g, "'")
    .replace(/</g, '\u2039')
    .replace(/>/g, '\u203a');
}

function childrenOf(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states) as AnyStateNode[];
}

function isContainer(node: AnyStateNode): boolean {
  return (node.type === 'compound' || node.type === 'parallel') && childrenOf(node).length > 0;
}

function ancestors(node: AnyStateNode): AnyStateNode[] {
  const list: AnyStateNode[] = [];
  for (let current = node.parent; current; current = current.parent) list.push(current);
  return list;
}

function eventLabel(transition: AnyTransitionDefinition, owner: AnyStateNode): string {
  const delay = (transition as { delay?: unknown }).delay;
  if (delay !== undefined) return typeof delay === 'number' ? `after ${delay}ms` : `after ${String(delay)}`;
  const type = transition.eventType as string;
  if (type === '') return 'always';
  if (type.startsWith('xstate.done.state.')) return 'onDone';
  const invokeMatch = /^xstate\.(done\.actor|error\.actor|snapshot)\.(.*)$/.exec(type);
  if (invokeMatch) {
    const kind = invokeMatch[1] === 'done.actor' ? 'onDone' : invokeMatch[1] === 'error.actor' ? 'onError' : 'onSnapshot';
    const invokeId = invokeMatch[2] ?? '';
    const src = owner.invoke.find((definition) => definition.id === invokeId)?.src;
    return `${kind} ${typeof src === 'string' ? src : invokeId}`;
  }
  if (type === 'xstate.route') return 'route';
  return type;
}

function transitionLabel(transition: AnyTransitionDefinition, owner: AnyStateNode): string {
  let label = eventLabel(transition, owner);
  if (transition.guard !== undefined) label += ` [${guardName(transition.guard)}]`;
  const actions = actionList(transition.actions);
  if (actions.length > 0) label += ` / ${actions.join(', ')}`;
  // Re-entering exits and enters the state again (its entry actions and timers restart).
  const reenters = transition.reenter && (transition.target ?? []).some((target) => target === owner || ancestors(target).includes(owner));
  if (reenters) label += ' (reenter)';
  return labelText(label);
}

/** Whether `state` handles `eventType` itself without a guard, so its parent's handler never applies there. */
function shadows(state: AnyStateNode, eventType: string): boolean {
  return (state.transitions.get(eventType) ?? []).some((transition) => transition.guard === undefined);
}

function allTransitions(node: AnyStateNode): AnyTransitionDefinition[] {
  return [...[...node.transitions.values()].flat(), ...(node.always ?? [])];
}

class DiagramBuilder {
  private readonly ids = new Map<AnyStateNode, string>();
  private readonly used = new Set<string>();
  /** Lines of edges per containing block (the root block is the machine's root node). */
  private readonly edgesByBlock = new Map<AnyStateNode, Edge[]>();

  constructor(private readonly root: AnyStateNode) {
    // A parallel root is drawn as one state holding its regions (Mermaid has no top-level regions).
    if (root.type === 'parallel') {
      this.ids.set(root, `s__${root.key.replace(/[^A-Za-z0-9_]/g, '_')}`);
      this.used.add(this.ids.get(root)!);
    }
    this.assignIds(root);
    this.collectEdges(root);
  }

  /** `s_` + the state's path: never a Mermaid keyword, and never equal to the label (see stateLines). */
  private assignIds(node: AnyStateNode): void {
    for (const child of childrenOf(node)) {
      const base = `s_${child.path.map((segment: string) => segment.replace(/[^A-Za-z0-9_]/g, '_')).join('_')}`;
      let id = base;
      for (let n = 2; this.used.has(id); n++) id = `${base}_${n}`;
      this.used.add(id);
      this.ids.set(child, id);
      this.assignIds(child);
    }
  }

  private id(node: AnyStateNode): string {
    const id = this.ids.get(node);
    if (id === undefined) throw new Error(`state ${node.id} has no diagram id`);
    return id;
  }

  private sourcesOf(owner: AnyStateNode, eventType: string): AnyStateNode[] {
    if (owner !== this.root || owner.type === 'parallel') return [owner];
    return childrenOf(owner).filter((child) => child.type !== 'final' && child.type !== 'history' && !shadows(child, eventType));
  }

  /** The block an edge is written in: the deepest container holding both ends (not parallel: regions). */
  private blockFor(source: AnyStateNode, target: AnyStateNode): AnyStateNode {
    const targetAncestors = new Set(ancestors(target));
    const common = ancestors(source).find((candidate) => targetAncestors.has(candidate)) ?? this.root;
    return common.type === 'parallel' ? this.root : common;
  }

  private addEdge(source: AnyStateNode, target: AnyStateNode, label: string): void {
    const block = this.blockFor(source, target);
    const edges = this.edgesByBlock.get(block) ?? [];
    const same = edges.find((edge) => edge.source === source && edge.target === target);
    if (same) same.labels.push(label);
    else edges.push({ source, target, labels: [label] });
    this.edgesByBlock.set(block, edges);
  }

  private collectEdges(node: AnyStateNode): void {
    for (const transition of allTransitions(node)) {
      const label = transitionLabel(transition, node);
      for (const source of this.sourcesOf(node, transition.eventType as string)) {
        const targets = transition.target && transition.target.length > 0 ? transition.target : [source];
        for (const rawTarget of targets) {
          // A transition to the root itself restarts the machine: draw it to the root's initial state.
          const target = rawTarget === this.root ? (this.root.initial.target[0] ?? source) : rawTarget;
          this.addEdge(source, target, label);
        }
      }
    }
    for (const child of childrenOf(node)) this.collectEdges(child);
  }

  private stateLines(node: AnyStateNode, indent: string): string[] {
    const id = this.id(node);
    const label = labelText(node.type === 'history' ? `${node.key} (history${node.history === 'deep' ? ', deep' : ''})` : node.key);
    const details = this.details(node).map(labelText);
    if (!isContainer(node)) {
      // The first description of a state is its title, the others are listed under it.
      return [`${indent}state "${label}" as ${id}`, ...details.map((detail) => `${indent}${id} : ${detail}`)];
    }
    // Mermaid refuses descriptions on a composite state: its details go in a note beside it.
    const lines = [`${indent}state "${label}" as ${id} {`, ...this.blockLines(node, `${indent}  `), `${indent}}`];
    if (details.length > 0) lines.push(`${indent}note right of ${id} : ${details.join(LABEL_SEPARATOR)}`);
    return lines;
  }

  /** Entry and exit actions and invoked actors, shown as description lines of the state. */
  private details(node: AnyStateNode): string[] {
    const details: string[] = [];
    const entry = actionList(node.entry);
    if (entry.length > 0) details.push(`entry / ${entry.join(', ')}`);
    const exit = actionList(node.exit);
    if (exit.length > 0) details.push(`exit / ${exit.join(', ')}`);
    for (const invoked of node.invoke) details.push(`invoke ${typeof invoked.src === 'string' ? invoked.src : invoked.id}`);
    return details;
  }

  /** The whole diagram below the `stateDiagram-v2` line. */
  diagramLines(): string[] {
    if (this.root.type !== 'parallel') return this.blockLines(this.root, '  ');
    const id = this.id(this.root);
    return [
      `  [*] --> ${id}`,
      `  state "${labelText(this.root.key)}" as ${id} {`,
      ...this.stateBlockLines(this.root, '    '),
      '  }',
      ...this.edgeLines(this.root, '  '),
    ];
  }

  /** The inside of a container: initial marker, child states, final markers, then edges kept inside. */
  private blockLines(node: AnyStateNode, indent: string): string[] {
    return [...this.stateBlockLines(node, indent), ...this.edgeLines(node, indent)];
  }

  private stateBlockLines(node: AnyStateNode, indent: string): string[] {
    const lines: string[] = [];
    const children = childrenOf(node);
    if (node.type === 'parallel') {
      children.forEach((child, index) => {
        if (index > 0) lines.push(`${indent}--`);
        lines.push(...this.stateLines(child, indent));
      });
    } else {
      for (const initial of node.initial?.target ?? []) lines.push(`${indent}[*] --> ${this.id(initial)}`);
      for (const child of children) lines.push(...this.stateLines(child, indent));
      for (const child of children) if (child.type === 'final') lines.push(`${indent}${this.id(child)} --> [*]`);
    }
    return lines;
  }

  private edgeLines(node: AnyStateNode, indent: string): string[] {
    const lines: string[] = [];
    for (const edge of this.edgesByBlock.get(node) ?? []) {
      // Mermaid wraps long edge labels: a bullet per transition shows where each one starts.
      const label = edge.labels.length === 1 ? edge.labels[0] : edge.labels.map((text) => `${BULLET}${text}`).join(LABEL_SEPARATOR);
      lines.push(`${indent}${this.id(edge.source)} --> ${this.id(edge.target)} : ${label}`);
    }
    return lines;
  }
}

/** The machine as Mermaid `stateDiagram-v2` text, ending with a newline. */
export function toMermaid(machine: AnyStateMachine): string {
  const root = machine.root as AnyStateNode;
  const builder = new DiagramBuilder(root);
  const lines = ['stateDiagram-v2', ...builder.diagramLines()];
  return `${lines.join('\n')}\n`;
}
