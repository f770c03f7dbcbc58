// The rules of what an operator may make a node do, each tried with inputs meant to slip past it.
import { describe, expect, it } from 'vitest';
import {
  ADMIN_INVOKE_COMMANDS,
  APPROVAL_FIELDS,
  NodeCommandPolicy,
  approvalFieldsIn,
  approvalScopesFor,
  invokeScopeFor,
  isCommandGlob,
  missingScope,
  policyRefusal,
} from '../../src/methods/node-command-policy.js';

describe('approval fields', () => {
  it('finds every field the node host reads as an approval, whatever its value', () => {
    for (const field of APPROVAL_FIELDS) {
      for (const value of [true, false, null, 'allow-always', 'ask-fallback', 0, {}, 'ALLOW-ONCE']) {
        expect(approvalFieldsIn('system.run', { command: ['true'], [field]: value }), `${field}=${JSON.stringify(value)}`).toEqual([field]);
      }
    }
    expect(approvalFieldsIn('system.run', { command: ['true'], approved: true, approvalDecision: 'allow-once', approvalSource: 'auto-review' })).toEqual([
      'approved',
      'approvalDecision',
      'approvalSource',
    ]);
  });

  it('covers system.run, the system.run.* family and the Claude runner that feeds the same policy', () => {
    for (const command of ['system.run', 'system.run.prepare', 'system.run.anything', 'agent.cli.claude.run.v1']) {
      expect(approvalFieldsIn(command, { approved: true }), command).toEqual(['approved']);
    }
    // Commands the node host reads no approval from pass their params as they are.
    for (const command of ['system.which', 'system.runx', 'system.notify', 'camera.snap']) {
      expect(approvalFieldsIn(command, { approved: true }), command).toEqual([]);
    }
  });

  it('reads params as the node host will (own keys of the parsed JSON), and skips params that are not an object', () => {
    // JSON.parse makes "__proto__" an own key, not a prototype: the node host's params.approved stays undefined.
    const parsed = JSON.parse('{"command":["true"],"__proto__":{"approved":true}}') as object;
    expect(approvalFieldsIn('system.run', parsed)).toEqual([]); // the node host reads own keys only: params.approved is undefined
    expect((parsed as { approved?: unknown }).approved).toBeUndefined();
    expect(approvalFieldsIn('system.run', JSON.parse('{"approved":true,"command":[]}'))).toEqual(['approved']);
    for (const params of [undefined, null, 'approved', ['approved'], 1]) expect(approvalFieldsIn('system.run', params)).toEqual([]);
  });
});

describe('command classes by scope', () => {
  it('needs operator.admin to invoke the reference admin-only commands, operator.write for the rest', () => {
    for (const command of ['browser.proxy', 'browser.proxy.upload.v1', 'fs.listDir', 'terminal.upload', 'system.execApprovals.set']) {
      expect(invokeScopeFor(command), command).toBe('operator.admin');
    }
    for (const command of ['system.run', 'system.which', 'camera.snap', 'browser.proxy.x', 'fs.listdir']) {
      expect(invokeScopeFor(command), command).toBe('operator.write');
    }
  });

  it('derives the approval scopes from the declared commands, as the reference table does', () => {
    expect(approvalScopesFor([])).toEqual(['operator.pairing']);
    expect(approvalScopesFor(['camera.list', 'location.get'])).toEqual(['operator.pairing', 'operator.write']);
    for (const command of ['system.run', 'system.run.prepare', 'system.which', 'browser.proxy', 'fs.listDir', 'system.execApprovals.get']) {
      expect(approvalScopesFor(['camera.list', command]), command).toEqual(['operator.pairing', 'operator.admin']);
    }
    for (const command of ADMIN_INVOKE_COMMANDS) expect(approvalScopesFor([command])).toContain('operator.admin');
  });

  it('admin satisfies every scope; write does not satisfy admin or pairing', () => {
    expect(missingScope(['operator.admin'], ['operator.pairing', 'operator.admin'])).toBeUndefined();
    expect(missingScope(['operator.pairing', 'operator.write'], ['operator.pairing', 'operator.admin'])).toBe('operator.admin');
    expect(missingScope(['operator.write'], ['operator.pairing', 'operator.write'])).toBe('operator.pairing');
    expect(missingScope(['operator.pairing', 'operator.write'], ['operator.pairing', 'operator.write'])).toBeUndefined();
  });
});

describe('the gateway policy', () => {
  it('lets everything through when both lists are empty', () => {
    const policy = new NodeCommandPolicy();
    expect(policy.refuses('system.run')).toBeUndefined();
  });

  it('denies by glob, and deny wins over allow', () => {
    const policy = new NodeCommandPolicy({ allow: ['*'], deny: ['system.run*', 'browser.?roxy'] });
    expect(policy.refuses('system.run')).toEqual({ list: 'deny', pattern: 'system.run*' });
    expect(policy.refuses('system.run.prepare')).toEqual({ list: 'deny', pattern: 'system.run*' });
    expect(policy.refuses('browser.proxy')).toEqual({ list: 'deny', pattern: 'browser.?roxy' });
    expect(policy.refuses('system.which')).toBeUndefined();
    // A dot in a pattern is a dot, not any character; the match is anchored at both ends.
    expect(policy.refuses('systemXrun')).toBeUndefined();
    expect(policy.refuses('xsystem.run')).toBeUndefined();
  });

  it('with an allow list, refuses every command that matches none of it', () => {
    const policy = new NodeCommandPolicy({ allow: ['camera.*', 'location.get'] });
    expect(policy.refuses('camera.snap')).toBeUndefined();
    expect(policy.refuses('location.get')).toBeUndefined();
    expect(policy.refuses('location.getx')).toEqual({ list: 'allow', patterns: ['camera.*', 'location.get'] });
    expect(policy.refuses('system.run')).toEqual({ list: 'allow', patterns: ['camera.*', 'location.get'] });
    expect(policy.partition(['camera.snap', 'system.run', 'location.get'])).toEqual({
      allowed: ['camera.snap', 'location.get'],
      withheld: [{ command: 'system.run', rule: { list: 'allow', patterns: ['camera.*', 'location.get'] } }],
    });
  });

  it('treats regular-expression characters in patterns literally', () => {
    const policy = new NodeCommandPolicy({ deny: ['a+b', '(x)', 'c$', '[s]'] });
    expect(policy.refuses('a+b')).toMatchObject({ pattern: 'a+b' });
    expect(policy.refuses('aab')).toBeUndefined();
    expect(policy.refuses('(x)')).toMatchObject({ pattern: '(x)' });
    expect(policy.refuses('x')).toBeUndefined();
    expect(policy.refuses('[s]')).toMatchObject({ pattern: '[s]' });
    expect(policy.refuses('s')).toBeUndefined();
  });

  it('refuses patterns that are not command patterns', () => {
    for (const bad of ['', 'a b', 'x'.repeat(129), 'caf\u00e9']) {
      expect(isCommandGlob(bad), JSON.stringify(bad)).toBe(false);
      expect(() => new NodeCommandPolicy({ deny: [bad] })).toThrow(/not a command pattern/);
    }
  });

  it('names the rule in its refusal', () => {
    const refusal = policyRefusal('system.run', { list: 'deny', pattern: 'system.*' });
    expect(refusal).toMatchObject({
      code: 'INVALID_REQUEST',
      details: { code: 'COMMAND_DENIED_BY_POLICY', command: 'system.run', rule: { list: 'deny', pattern: 'system.*' } },
    });
    expect(refusal.message).toContain('deny rule "system.*"');
  });
});
