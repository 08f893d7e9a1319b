// The console and the HTML report in a real browser: Debian's chromium, headless, driven over the
// DevTools protocol (puppeteer-core). Starts mamba-explaind on 127.0.0.1 with the committed copy
// model and the HTTP gateway, then
//   console: submits an explanation (ids, two methods, dense) in the page, waits for the stream to
//     finish, and checks the rendered values (text saliency of the last row per method, a hovered
//     heatmap cell, progress, summary) against the gRPC client's result of the same request;
//   console on the synthetic backend with a per-layer delay: results and progress appear while
//     the stream is still running;
//   reports (`mamba-explain explain --html`, offline) at 30, 500 and 2 000 tokens: size under
//     2 MB, no page error, the heatmap canvas drawn, text saliency values equal to the JSON of the
//     same run (the entries the report keeps); and a remote report (--server ... --html).
// Screenshots go to OUT_DIR (docs/img when run by hand to refresh the docs). No timing asserts.
// usage: node browser_test.mjs MAMBA_EXPLAIND MAMBA_EXPLAIN OUT_DIR
import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import puppeteer from 'puppeteer-core';

const [serverBin, clientBin, outDir] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const chrome = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(p => fs.existsSync(p));
if (!chrome) {
  console.log('chromium not installed: skipped');
  process.exit(77);
}
fs.mkdirSync(outDir, {recursive: true});
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mx-browser-'));
let passed = 0, failed = 0;
const procs = [];
function check(name, cond, detail = '') {
  if (cond) { passed++; console.log(`ok   ${name}`); }
  else { failed++; console.log(`FAIL ${name}${detail ? ': ' + detail : ''}`); }
}
function finish() {
  for (const p of procs) p.kill('SIGKILL');
  fs.rmSync(tmp, {recursive: true, force: true});
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
// Rendered values are printed to 4 significant digits (MambaExplain.fmt).
const close = (shown, want) => Math.abs(shown - want) <= 6e-4 * Math.abs(want) + 1e-30;

// Starts the server; resolves {grpc, http} once it printed its ports.
function startServer(name, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(serverBin, ['--host', '127.0.0.1', '--port', '0', '--metrics_port', '-1',
                                '--http_port', '0', '--plaintext', ...args]);
    procs.push(p);
    let log = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${log}`)), 120000);
    p.stderr.on('data', d => {
      log += d;
      const m = log.match(/grpc_port=(\d+).*http_port=(\d+)/);
      if (m) { clearTimeout(timer); resolve({grpc: Number(m[1]), http: Number(m[2])}); }
    });
    p.on('exit', code => reject(new Error(`${name} exited ${code}: ${log}`)));
  });
}
function client(args) {
  return execFileSync(clientBin, args, {stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30});
}

const repo = path.join(tmp, 'repo');
fs.cpSync(path.join(repoRoot, 'models/copy-mamba1-silu'), path.join(repo, 'copy'), {recursive: true});
const srepo = path.join(tmp, 'srepo');
fs.mkdirSync(path.join(srepo, 'deep'), {recursive: true});
const cfg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'tests/fixtures/mamba1_bias_tied/config.json')));
cfg.num_hidden_layers = 12;
fs.writeFileSync(path.join(srepo, 'deep/config.json'), JSON.stringify(cfg));

let browser;
try {
  const engine = await startServer('engine', ['--model_repository', repo]);
  const synthetic = await startServer('synthetic', ['--model_repository', srepo, '--backend', 'synthetic',
                                                    '--synthetic_layer_delay_ms', '250']);
  browser = await puppeteer.launch({
    executablePath: chrome, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
           `--user-data-dir=${path.join(tmp, 'profile')}`],
  });
  const errors = [];
  async function open(url, width = 1280, height = 1000) {
    const page = await browser.newPage();
    await page.setViewport({width, height});
    page.on('pageerror', e => errors.push(`${url}: ${e.message}`));
    page.on('console', m => { if (m.type() === 'error') errors.push(`${url}: console: ${m.text()}`); });
    page.on('requestfailed', r => { if (!r.url().includes('/v1/explain')) errors.push(`${url}: request failed ${r.url()}`); });
    await page.goto(url, {waitUntil: 'load'});
    return page;
  }

  // --- the console against the gRPC result ---------------------------------------------------
  const ids = [3, 7, 1, 12, 5, 9, 2, 14, 6, 11, 3, 7, 1, 12, 5, 9, 2, 14, 6, 11];
  const grpcJson = path.join(tmp, 'grpc.json');
  client(['explain', '--server', `127.0.0.1:${engine.grpc}`, '--model', 'copy', '--ids', ids.join(','),
          '--method', 'latim-l2,grad-x-input', '--dense', '--json', grpcJson, '--quiet']);
  const grpc = JSON.parse(fs.readFileSync(grpcJson));
  const consoleUrl = `http://127.0.0.1:${engine.http}/`;
  const page = await open(consoleUrl);
  await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0, {timeout: 30000});
  await page.click('input[name=kind][value=ids]');
  await page.type('#input', ids.join(','));
  await page.evaluate(() => {
    for (const c of document.querySelectorAll('#methods input')) c.checked = ['latim-l2', 'grad-x-input'].includes(c.value);
    document.getElementById('sparsity').value = 'dense';
  });
  await page.click('#run');
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), {timeout: 120000});
  const state = await page.evaluate(() => document.body.dataset.state);
  check('console: the stream finishes', state === 'done', await page.$eval('#status', e => e.textContent));
  const progress = await page.evaluate(() => ({
    done: document.querySelectorAll('.mx-prog-cell.done').length,
    all: document.querySelectorAll('.mx-prog-cell').length,
    bar: document.getElementById('bar').style.width,
    summary: document.querySelectorAll('.mx-summary tr').length,
  }));
  // latim-l2: one cell per layer (2), grad-x-input: one whole-model cell.
  check('console: progress complete (every layer of every method)', progress.done === 3 && progress.all === 3 && parseFloat(progress.bar) === 100,
        JSON.stringify(progress));
  check('console: summary shown', progress.summary >= 5, JSON.stringify(progress));
  // grad-x-input's Progress events: its last step (20 of 20 rows) stays beside its line.
  const steps = await page.evaluate(() => {
    const s = document.querySelector('.mx-prog[data-method="grad-x-input"] .mx-steps');
    return s ? s.textContent : null;
  });
  check('console: the long method\'s steps shown (20/20 rows)', steps === '20/20', String(steps));

  // Select (method, layer, row) in the page and read the text saliency it renders.
  async function rendered(p, method, layer, row) {
    return p.evaluate((method, layer, row) => {
      const set = (id, v) => { const s = document.querySelector(id); s.value = String(v); s.dispatchEvent(new Event('change')); };
      set('.mx-method', method);
      set('.mx-layer', layer);
      set('.mx-row', row);
      const text = document.querySelector('.mx-text');
      return {method: text.dataset.method, layer: Number(text.dataset.layer), row: Number(text.dataset.row),
              values: [...text.querySelectorAll('.mx-tok')].map(s => [Number(s.dataset.col), Number(s.dataset.value)]),
              info: document.querySelector('.mx-info').textContent};
    }, method, layer, row);
  }
  function compareRow(name, got, wantRow, keptOnly) {
    let bad = null, n = 0;
    for (const [c, v] of got.values) {
      if (keptOnly && v === 0) continue;
      if (!close(v, wantRow[c])) { bad = `col ${c}: shown ${v}, want ${wantRow[c]}`; break; }
      ++n;
    }
    check(`${name}: ${n} rendered values equal the expected ones`, bad === null && n > 0 && got.values.length > 0, bad || '');
  }
  const last = ids.length - 1;
  for (const r of grpc.results) {
    const rows = r.matrix || r.scores;
    const k = r.rows.indexOf(last);
    const got = await rendered(page, r.method, r.layer, last);
    check(`console: ${r.method} layer ${r.layer} selected`, got.method === r.method && got.layer === r.layer && got.row === last,
          JSON.stringify([got.method, got.layer, got.row]));
    compareRow(`console vs gRPC, ${r.method} layer ${r.layer} row ${last}`, got, rows[k], false);
    if (r.explained_logit) {
      const logit = r.explained_logit[k];
      const m = got.info.match(/logit ([-0-9.e]+)/);
      check(`console: ${r.method} shows the explained token ${r.targets[k]} and logit`,
            got.info.includes('token ' + r.targets[k]) && m && close(Number(m[1]), logit), got.info);
    }
    if (r.method === 'latim-l2') {  // hover one heatmap cell: row `last`, column 4
      const tip = await page.evaluate(() => {
        const v = window.mxConsole.view, g = v.geom, box = v.scroller.getBoundingClientRect();
        const k = v.current().rows.indexOf(v.sel.pos);
        return {x: box.left + g.L + 4 * g.z + g.z / 2 - v.scroller.scrollLeft,
                y: box.top + g.T + k * g.z + g.z / 2 - v.scroller.scrollTop};
      });
      await page.mouse.move(tip.x, tip.y);
      const shown = await page.$eval('.mx-tip', t => ({row: Number(t.dataset.row), col: Number(t.dataset.col), value: Number(t.dataset.value), text: t.textContent}));
      check('console: hovering a heatmap cell shows its value', shown.row === last && shown.col === 4 && close(shown.value, rows[k][4]),
            `${JSON.stringify(shown)} want ${rows[k][4]}`);
    }
  }
  await rendered(page, 'latim-l2', 1, last);
  await page.screenshot({path: path.join(outDir, 'console.png'), fullPage: true});

  // --- the console while the stream runs (synthetic: 12 layers x 250 ms) ------------------------
  const live = await open(`http://127.0.0.1:${synthetic.http}/`);
  await live.waitForFunction(() => document.querySelectorAll('#model option').length > 0, {timeout: 30000});
  await live.click('input[name=kind][value=ids]');
  await live.type('#input', '1,2,3,4,5,6');
  await live.click('#run');
  const partial = await live.waitForFunction(() => {
    const done = document.querySelectorAll('.mx-prog-cell.done').length;
    return document.body.dataset.state === 'streaming' && done >= 2 && document.querySelector('.mx-text .mx-tok') ? done : null;
  }, {timeout: 60000, polling: 50}).then(h => h.jsonValue()).catch(() => null);
  const total = await live.evaluate(() => document.querySelectorAll('.mx-prog-cell').length);
  check('console: heatmap, text and progress fill in while the stream runs', partial !== null && partial < total,
        `${partial} of ${total} layers done while streaming`);
  await live.screenshot({path: path.join(outDir, 'console_streaming.png'), fullPage: false});
  await live.waitForFunction(() => document.body.dataset.state !== 'streaming', {timeout: 60000});
  check('console: the live stream completes', await live.evaluate(() => document.body.dataset.state) === 'done');

  // --- reports at 30, 500 and 2 000 tokens (offline --html) and one remote -------------------
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  // Long inputs: every 10th (20th) row and the last 40 (20) of 500 (2 000) tokens, and LaTIM only
  // at 2 000 (all rows, or a gradient method's backward pass per row, would take minutes on the
  // CI's CPU); the columns, which are what grows the page, are all there.
  const rowsOf = n => {
    const step = n > 500 ? 20 : 10, tail = n > 500 ? 20 : 40;
    return [...new Set([...Array.from({length: n / step}, (_, i) => i * step),
                        ...Array.from({length: tail}, (_, i) => n - tail + i)])].join(',');
  };
  for (const n of [30, 500, 2000]) {
    const pos = Array.from({length: n}, () => 1 + Math.floor(rand() * 15));
    const html = path.join(tmp, `report_${n}.html`), json = path.join(tmp, `report_${n}.json`);
    client(['explain', '--model-dir', path.join(repoRoot, 'models/copy-mamba1-silu'), '--ids', pos.join(','),
            '--method', n > 500 ? 'latim-l1,latim-l2' : 'latim-l2,grad-x-input', '--rows', n > 30 ? rowsOf(n) : 'all',
            '--json', json, '--html', html]);
    const bytes = fs.statSync(html).size;
    check(`report ${n} tokens: ${(bytes / 1e6).toFixed(2)} MB < 2 MB`, bytes < 2e6);
    const text = fs.readFileSync(html, 'utf8');
    check(`report ${n} tokens: self-contained`, !/(src|href)="?(https?:)?\/\//i.test(text));
    const rp = await open('file://' + html, 1280, 1100);
    await rp.waitForFunction(() => window.mxReport && document.querySelectorAll('.mx-results tr').length > 1, {timeout: 60000});
    const drawn = await rp.evaluate(() => {
      const c = document.querySelector('.mx-canvas'), ctx = c.getContext('2d');
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      const colours = new Set();
      for (let i = 0; i < d.length; i += 4 * 97) colours.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]);
      return colours.size;
    });
    check(`report ${n} tokens: heatmap canvas drawn (${drawn} colours sampled)`, drawn > 10);
    const want = JSON.parse(fs.readFileSync(json));
    const r = want.results.find(q => q.method === 'latim-l2' && q.layer === 1);
    const got = await rendered(rp, 'latim-l2', 1, n - 1);
    compareRow(`report ${n} tokens vs its JSON, latim-l2 layer 1 row ${n - 1}`, got, r.matrix[r.rows.indexOf(n - 1)], n > 30);
    await rp.screenshot({path: path.join(outDir, `report_${n}.png`), fullPage: false});
    await rp.close();
  }
  const remoteHtml = path.join(tmp, 'remote.html');
  client(['explain', '--server', `127.0.0.1:${engine.grpc}`, '--model', 'copy', '--ids', ids.join(','),
          '--method', 'latim-l2,latim-alti-logit', '--top-k', '8', '--html', remoteHtml, '--json', path.join(tmp, 'remote.json'), '--quiet']);
  const rp = await open('file://' + remoteHtml);
  await rp.waitForFunction(() => window.mxReport && document.querySelectorAll('.mx-results tr').length > 1, {timeout: 60000});
  const remote = JSON.parse(fs.readFileSync(path.join(tmp, 'remote.json')));
  const ra = remote.results.find(q => q.method === 'latim-alti-logit');
  const got = await rendered(rp, 'latim-alti-logit', -1, last);
  compareRow('remote report vs its JSON, latim-alti-logit', got, ra.matrix[ra.rows.indexOf(last)], true);
  check('remote report: summary shown', await rp.evaluate(() => document.querySelectorAll('.mx-summary tr').length) >= 5);
  check('no page errors', errors.length === 0, errors.slice(0, 5).join(' | '));
} catch (e) {
  check('browser test ran', false, e.stack || String(e));
} finally {
  if (browser) await browser.close().catch(() => {});
}
finish();
