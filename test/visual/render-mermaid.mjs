// Renders every visualizations/*.mmd (or the .mmd files given as arguments) with the real Mermaid in
// headless Chromium, fails on any parse or render error, and writes PNG screenshots to a temp folder.
//   node test/visual/render-mermaid.mjs [file.mmd ...]
// Needs /usr/bin/chromium (or CHROMIUM_PATH); waits up to 10 minutes for it to appear. Works offline.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const mermaidScript = join(root, 'node_modules/mermaid/dist/mermaid.min.js');
const POLL_MS = 20_000;
const WAIT_LIMIT_MS = 10 * 60_000;

async function waitForChromium() {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!existsSync(executablePath)) {
    if (Date.now() >= deadline) throw new Error(`${executablePath} did not appear within 10 minutes`);
    console.log(`waiting for ${executablePath} ...`);
    await new Promise((done) => setTimeout(done, POLL_MS));
  }
}

async function diagramFiles() {
  const given = process.argv.slice(2);
  if (given.length > 0) return given.map((file) => resolve(file));
  const dir = join(root, 'visualizations');
  return (await readdir(dir)).filter((name) => name.endsWith('.mmd')).sort().map((name) => join(dir, name));
}

/** In the page: parse, render, and report what Mermaid made of it. */
async function renderInPage(page, text) {
  return page.evaluate(async (source) => {
    const { mermaid } = globalThis;
    const host = document.getElementById('diagram');
    host.innerHTML = '';
    try {
      await mermaid.parse(source);
      const id = `d${Math.random().toString(36).slice(2)}`;
      const { svg } = await mermaid.render(id, source);
      host.innerHTML = svg;
      const element = host.querySelector('svg');
      if (!element) return { error: 'no <svg> produced' };
      if (element.getAttribute('aria-roledescription') === 'error' || /Syntax error in text/.test(svg)) {
        return { error: 'Mermaid rendered its error diagram' };
      }
      const box = element.getBoundingClientRect();
      return {
        width: Math.round(box.width),
        height: Math.round(box.height),
        states: element.querySelectorAll('g.node').length,
        edges: element.querySelectorAll('path.transition, .edgePaths path').length,
      };
    } catch (error) {
      return { error: String(error?.message ?? error) };
    }
  }, text);
}

async function main() {
  await waitForChromium();
  const files = await diagramFiles();
  const outDir = await mkdtemp(join(tmpdir(), 'actorgate-mermaid-'));
  const browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  let passed = 0;
  let failed = 0;
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1200 }, deviceScaleFactor: 1.5 });
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    await page.setContent('<!doctype html><html><body style="margin:0;background:#fff"><div id="diagram" style="display:inline-block;padding:16px"></div></body></html>');
    await page.addScriptTag({ path: mermaidScript });
    await page.evaluate(() => globalThis.mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', state: { useMaxWidth: false } }));
    for (const file of files) {
      const name = basename(file);
      const result = await renderInPage(page, await readFile(file, 'utf8'));
      if (result.error) {
        failed++;
        console.log(`FAIL ${name}: ${result.error.split('\n').join(' | ')}`);
        continue;
      }
      const png = join(outDir, name.replace(/\.mmd$/, '.png'));
      await page.locator('#diagram').screenshot({ path: png });
      passed++;
      console.log(`ok   ${name}: ${result.states} nodes, ${result.edges} edges, ${result.width}x${result.height} px -> ${png}`);
    }
  } finally {
    await browser.close();
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
}

main().catch((error) => {
  console.error(error);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
});
