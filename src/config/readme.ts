// The README's configuration table, written from the options table: `npm run docs` puts it between the
// README's `<!-- options:begin -->` and `<!-- options:end -->` markers, and a test fails when they differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OPTIONS, OPTION_NAMES, defaultText, envName, type OptionSpec } from './options.js';

export const OPTIONS_BEGIN = '<!-- options:begin -->';
export const OPTIONS_END = '<!-- options:end -->';

const code = (text: string) => `\`${text}\``;

/** The configuration table in Markdown: one row per option, in the table's order. */
export function optionsMarkdown(): string {
  const rows = OPTION_NAMES.map((name) => {
    const option = OPTIONS[name] as OptionSpec<unknown>;
    const cli = option.flag === undefined ? '(programs only)' : `${code(`--${option.flag}`)}, ${code(envName(option.flag))}`;
    const given = defaultText(option);
    const shown = option.defaultText === undefined ? code(given) : given;
    return `| ${code(name)} | ${cli} | ${shown} | ${option.doc.replaceAll('|', '\\|')} |`;
  });
  return ['| `createGateway` option | `actorgate start` flag, variable | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** `readme` with the text between the markers replaced by the current table. */
export function withOptionsTable(readme: string): string {
  const begin = readme.indexOf(OPTIONS_BEGIN);
  const end = readme.indexOf(OPTIONS_END);
  if (begin < 0 || end < begin) throw new Error(`README.md needs ${OPTIONS_BEGIN} and ${OPTIONS_END} around its configuration table`);
  return `${readme.slice(0, begin + OPTIONS_BEGIN.length)}\n${optionsMarkdown()}\n${readme.slice(end)}`;
}

/** `npm run docs`: rewrites the README's table in place. */
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = fileURLToPath(new URL('../../../README.md', import.meta.url));
  writeFileSync(path, withOptionsTable(readFileSync(path, 'utf8')));
}
