// The real `openclaw` CLI (2026.9.6) calls a program's own method: the README's embedding example, built
// against the packed package in a project outside the repository, answers `openclaw gateway call demo.echo`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPackedConsumer, lineMatching, readmeBlock, type Consumer } from '../helpers/packed-consumer.js';
import { ensureOpenclaw, openclaw } from './openclaw.js';

const TOKEN = 'openclaw-embedding-token';
let consumer: Consumer;
let url: string;

beforeAll(async () => {
  ensureOpenclaw();
  consumer = await installPackedConsumer();
  consumer.write('server.ts', readmeBlock('<!-- example: embedding -->'));
  const compiled = await consumer.compile(['server.ts']);
  if (!compiled.ok) throw new Error(`the README example does not compile:\n${compiled.output}`);
  const server = consumer.start('server.js', { PORT: '0', GATEWAY_TOKEN: TOKEN });
  [, url = ''] = await lineMatching(server, /^listening on (ws:\/\/\S+)$/);
});
afterAll(() => consumer?.dispose());

describe('openclaw gateway call, against a program\'s method', () => {
  it('gets the answer of demo.echo', async () => {
    const result = await openclaw(['gateway', 'call', 'demo.echo', '--params', '{"text":"hi"}', '--url', url, '--token', TOKEN, '--json']);
    console.log(`openclaw gateway call demo.echo -> exit ${result.code}\n${result.stdout}${result.stderr}`);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ echoed: 'hi', from: 'cli' });
  });

  it('gets INVALID_REQUEST naming the path for params of the wrong type, and a non-zero exit', async () => {
    const result = await openclaw(['gateway', 'call', 'demo.echo', '--params', '{"text":3}', '--url', url, '--token', TOKEN, '--json']);
    console.log(`openclaw gateway call demo.echo (wrong params) -> exit ${result.code}\n${result.stdout}${result.stderr}`);
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain('invalid demo.echo params: /text: Expected string');
  });
});
