// actorgate as a user installs it: packed with `npm pack`, installed in a project outside the repository,
// the README's embedding example compiled with `tsc --strict` against the shipped declarations and run; a
// wrongly typed handler and an unknown option must not compile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient } from '../helpers/client.js';
import { installPackedConsumer, lineMatching, readmeBlock, type Consumer } from '../helpers/packed-consumer.js';

const TOKEN = 'embedding-package-token';
let consumer: Consumer;

beforeAll(async () => {
  consumer = await installPackedConsumer();
  consumer.write('server.ts', readmeBlock('<!-- example: embedding -->'));
}, 300_000);
afterAll(() => consumer?.dispose());

describe('the packed package in a project of its own', () => {
  it('compiles the README\'s embedding example with tsc --strict, its declarations included', { timeout: 120_000 }, async () => {
    const compiled = await consumer.compile(['server.ts']);
    expect(compiled.output).toBe('');
    expect(compiled.ok).toBe(true);
  });

  it('refuses a handler whose params do not match the schema, a wrong result use, and an unknown option', { timeout: 120_000 }, async () => {
    consumer.write(
      'wrong.ts',
      [
        "import { Type } from '@sinclair/typebox';",
        "import { createGateway } from 'actorgate';",
        'const gateway = createGateway({ prot: 1 });',
        "gateway.method('demo.bad', {",
        "  scope: 'operator.read',",
        '  params: Type.Object({ text: Type.String() }),',
        '  handle: (params: { text: number }) => params.text + 1,',
        '});',
        "gateway.method('demo.worse', {",
        "  scope: 'operator.read',",
        '  params: Type.Object({ text: Type.String() }),',
        '  handle: (params) => params.txt,',
        '});',
        "gateway.method('demo.open', { handle: () => 1 });",
        '',
      ].join('\n'),
    );
    const compiled = await consumer.compile(['wrong.ts']);
    expect(compiled.ok).toBe(false);
    const errors = compiled.output.split('\n').filter((line) => line.startsWith('wrong.ts('));
    // One error per mistake, on its own line: the unknown option, the handler's params, the missing property, no access rule.
    expect(errors.map((line) => /^wrong\.ts\((\d+),/.exec(line)![1])).toEqual(['3', '7', '12', '14']);
    expect(errors[0]).toContain("'prot'");
    expect(errors[2]).toContain("'txt'");
  });

  it('runs: the method answers typed calls, and wrong params get INVALID_REQUEST naming the path', { timeout: 60_000 }, async () => {
    const server = consumer.start('server.js', { PORT: '0', GATEWAY_TOKEN: TOKEN });
    const [, url] = await lineMatching(server, /^listening on (ws:\/\/\S+)$/);
    const { client, hello } = await connectClient(url!, TOKEN, { scopes: ['operator.read'] });
    expect((hello.features as { methods: string[]; events: string[] }).methods).toContain('demo.echo');
    expect((hello.features as { methods: string[]; events: string[] }).events).toContain('demo.tick');
    expect(await client.request('demo.echo', { text: 'hi' })).toMatchObject({ ok: true, payload: { echoed: 'hi', from: 'test' } });
    expect(await client.request('demo.echo', { text: 3 })).toMatchObject({
      ok: false,
      error: { code: 'INVALID_REQUEST', message: 'invalid demo.echo params: /text: Expected string' },
    });
    expect(await client.request('demo.echo', { text: '  ' })).toMatchObject({ ok: false, error: { code: 'INVALID_REQUEST', message: 'nothing to echo' } });
    const tick = await client.event('demo.tick');
    expect(typeof (tick.payload as { at: number }).at).toBe('number');
    expect(typeof tick.seq).toBe('number');
    server.kill('SIGTERM');
    expect((await client.closed).code).toBe(1012);
  });
});
