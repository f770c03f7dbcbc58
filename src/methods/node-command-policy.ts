// What an operator may make a node do, beyond "the node declared it and an operator approved it":
// - exec-approval fields never pass from an operator to a node (the node host would read them as a human's
//   approval of the run);
// - command classes by scope, after the reference's operator-scopes table: a few commands need
//   `operator.admin` to invoke, and approving a node's command surface needs `operator.write` or
//   `operator.admin` on top of `operator.pairing`, by what it declares;
// - the gateway's own allow/deny policy (`--node-commands-allow`, `--node-commands-deny`, glob lists), applied
//   when a surface is approved and when a command is invoked.
// Pure functions over plain data; the node methods (./builtin/nodes.ts, ./builtin/pairing.ts) apply them.
import { DetailCode, hasScope, invalidRequest, missingScopeError, type ErrorShape, type OperatorScope } from '../../machines/protocol.js';

/**
 * Fields of a command's params that the openclaw node host (2026.9.6, its `system.run` handler and exec policy)
 * reads as an approval of the run: `approved === true` or an `approvalDecision` of allow-once/allow-always count
 * as a human's approval, and `approvalSource` ("ask-fallback", "auto-review") swaps the node's ask policy for a
 * fallback or a reviewer's decision. The reference gateway forwards them only from its own approval records.
 */
export const APPROVAL_FIELDS = ['approved', 'approvalDecision', 'approvalSource'] as const;

/**
 * Commands whose params the node host reads those fields from: `system.run` (and the `system.run.*` family,
 * e.g. `system.run.prepare`, which builds the plan an approval is bound to), and `agent.cli.claude.run.v1`,
 * which hands its `approvalDecision` to the same `system.run` policy.
 */
export function readsApprovalFields(command: string): boolean {
  return command === 'system.run' || command.startsWith('system.run.') || command === 'agent.cli.claude.run.v1';
}

/** The approval fields `params` carries (top level, any value, `null` too), for a command that reads them. */
export function approvalFieldsIn(command: string, params: unknown): string[] {
  if (!readsApprovalFields(command) || params === null || typeof params !== 'object' || Array.isArray(params)) return [];
  return APPROVAL_FIELDS.filter((field) => Object.hasOwn(params, field));
}

export function approvalFieldsRefusal(command: string, fields: readonly string[]): ErrorShape {
  return invalidRequest(
    `${command} params may not carry exec approval fields (${fields.join(', ')}): the node's own exec policy decides, and only its owner approves`,
    { code: DetailCode.APPROVAL_FIELDS_NOT_ALLOWED, command, fields: [...fields] },
  );
}

/**
 * Commands that need `operator.admin` to invoke. The reference's table: `browser.proxy`,
 * `browser.proxy.upload.v1`, `fs.listDir`, `terminal.upload` (they cross a host boundary: a browser profile, the
 * node's files, its terminal). The reference refuses `system.execApprovals.get|set` and `agent.cli.claude.run.v1`
 * through `node.invoke` altogether (it has other methods for them); actorgate has no other way to reach them, so
 * they are admin-only here: changing a node's exec policy is an administrator's act.
 */
export const ADMIN_INVOKE_COMMANDS: ReadonlySet<string> = new Set([
  'browser.proxy',
  'browser.proxy.upload.v1',
  'fs.listDir',
  'terminal.upload',
  'system.execApprovals.get',
  'system.execApprovals.set',
  'agent.cli.claude.run.v1',
]);

/** The scope an operator needs to invoke `command` on an approved node. */
export function invokeScopeFor(command: string): OperatorScope {
  return ADMIN_INVOKE_COMMANDS.has(command) ? 'operator.admin' : 'operator.write';
}

/**
 * Declared commands whose approval needs `operator.admin` (the reference's node-pairing table: shell execution,
 * binary lookup, the browser proxy, file listing, the exec-approvals file; `terminal.upload` as its CLI counts it).
 */
export const ADMIN_APPROVAL_COMMANDS: ReadonlySet<string> = new Set([
  'system.run',
  'system.run.prepare',
  'system.which',
  'browser.proxy',
  'browser.proxy.upload.v1',
  'fs.listDir',
  'terminal.upload',
  'system.execApprovals.get',
  'system.execApprovals.set',
]);

/**
 * The scopes an operator needs to approve a node's command surface: `operator.pairing` for none,
 * plus `operator.write` for ordinary commands, plus `operator.admin` when one is in ADMIN_APPROVAL_COMMANDS.
 */
export function approvalScopesFor(commands: readonly string[]): OperatorScope[] {
  if (commands.length === 0) return ['operator.pairing'];
  if (commands.some((command) => ADMIN_APPROVAL_COMMANDS.has(command) || ADMIN_INVOKE_COMMANDS.has(command))) {
    return ['operator.pairing', 'operator.admin'];
  }
  return ['operator.pairing', 'operator.write'];
}

/** The first of `required` that `granted` does not satisfy (admin satisfies all, write includes read). */
export function missingScope(granted: readonly string[], required: readonly OperatorScope[]): OperatorScope | undefined {
  return required.find((scope) => !hasScope(granted, scope));
}

export function missingScopeRefusal(scope: OperatorScope, extra: { requiredScopes?: readonly OperatorScope[] } & Record<string, unknown> = {}): ErrorShape {
  const { requiredScopes = [scope], ...rest } = extra;
  return missingScopeError(scope, requiredScopes, rest);
}

// The gateway's policy ------------------------------------------------------------------------------

/** Which list of the policy refused a command, and the pattern (for `allow`: none matched, so none). */
export type PolicyRule = { list: 'deny'; pattern: string } | { list: 'allow'; patterns: string[] };

/** A command name pattern: `*` any run of characters (dots too), `?` one character, the rest literal. */
const GLOB = /^[\x21-\x7e]{1,128}$/;

export function isCommandGlob(pattern: string): boolean {
  return GLOB.test(pattern);
}

function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (const char of pattern) {
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

export interface NodeCommandPolicyOptions {
  /** When not empty, only commands matching one of these may be approved and invoked. */
  allow?: readonly string[];
  /** Commands matching one of these are never approved or invoked; deny wins over allow. */
  deny?: readonly string[];
}

/** The gateway's allow/deny lists of node commands (globs). Empty lists allow everything. */
export class NodeCommandPolicy {
  private readonly allow: { pattern: string; test: RegExp }[];
  private readonly deny: { pattern: string; test: RegExp }[];

  constructor(options: NodeCommandPolicyOptions = {}) {
    const compile = (pattern: string) => {
      if (!isCommandGlob(pattern)) throw new TypeError(`not a command pattern: ${JSON.stringify(pattern)}`);
      return { pattern, test: globToRegExp(pattern) };
    };
    this.allow = (options.allow ?? []).map(compile);
    this.deny = (options.deny ?? []).map(compile);
  }

  /** The rule that refuses `command`, or undefined when the policy lets it through. */
  refuses(command: string): PolicyRule | undefined {
    const denied = this.deny.find((rule) => rule.test.test(command));
    if (denied) return { list: 'deny', pattern: denied.pattern };
    if (this.allow.length > 0 && !this.allow.some((rule) => rule.test.test(command))) {
      return { list: 'allow', patterns: this.allow.map((rule) => rule.pattern) };
    }
    return undefined;
  }

  /** `commands` split into those the policy lets through and those it withholds, each with its rule. */
  partition(commands: readonly string[]): { allowed: string[]; withheld: { command: string; rule: PolicyRule }[] } {
    const allowed: string[] = [];
    const withheld: { command: string; rule: PolicyRule }[] = [];
    for (const command of commands) {
      const rule = this.refuses(command);
      if (rule) withheld.push({ command, rule });
      else allowed.push(command);
    }
    return { allowed, withheld };
  }
}

/** How a refusing rule reads in a message: `deny rule "system.*"`, `allow list (camera.*, location.get)`. */
export function describeRule(rule: PolicyRule): string {
  return rule.list === 'deny' ? `deny rule "${rule.pattern}"` : `allow list (${rule.patterns.join(', ')}), which it matches none of`;
}

export function policyRefusal(command: string, rule: PolicyRule): ErrorShape {
  return invalidRequest(`node command not allowed: "${command}" is refused by the gateway's node command policy, ${describeRule(rule)}`, {
    code: DetailCode.COMMAND_DENIED_BY_POLICY,
    command,
    rule,
  });
}
