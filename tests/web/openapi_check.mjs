// docs/openapi.yaml against the live server: starts mamba-explaind on 127.0.0.1 (engine backend on
// the committed copy model, synthetic backend with a per-layer delay), calls every operation of the
// OpenAPI description, and validates every response body, every SSE event and every NDJSON line
// against the schema the description gives for that status code (ajv, JSON Schema 2020-12, the
// dialect of OpenAPI 3.1). Fails when a response has a status the description does not list, when
// a body or event does not match (the schemas forbid unknown fields, so a field added to the proto
// and not documented fails too), or when an operation was never exercised.
// usage: node openapi_check.mjs MAMBA_EXPLAIND
import {spawn} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import YAML from 'yaml';

const [serverBin] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const spec = YAML.parse(fs.readFileSync(path.join(repoRoot, 'docs/openapi.yaml'), 'utf8'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mx-openapi-'));
let passed = 0, failed = 0;
const procs = [];
function check(name, cond, detail = '') {
  if (cond) { passed++; console.log(`ok   ${name}`); }
  else { failed++; console.log(`FAIL ${name}${detail ? ': ' + detail.slice(0, 600) : ''}`); }
}

// The description's schemas as one JSON Schema document ($defs), refs rewritten to it.
const defs = JSON.parse(JSON.stringify(spec.components.schemas).replaceAll('#/components/schemas/', 'mx#/$defs/'));
const ajv = new Ajv2020({strict: false, allErrors: true});
ajv.addSchema({$id: 'mx', $defs: defs});
const validator = name => ajv.getSchema(`mx#/$defs/${name}`);
function refName(schema) { return schema.$ref.split('/').pop(); }

const exercised = new Set();
// Validates a JSON response of operation (method, template) against the description.
function validateResponse(method, template, status, body, what) {
  const op = spec.paths[template][method];
  let resp = op.responses[String(status)];
  if (!resp) { check(`${what}: HTTP ${status} is documented for ${method.toUpperCase()} ${template}`, false); return; }
  exercised.add(`${method} ${template} ${status}`);
  if (resp.$ref) resp = spec.components.responses[resp.$ref.split('/').pop()];
  const schema = resp.content['application/json'].schema;
  const v = validator(refName(schema));
  check(`${what}: HTTP ${status} body is a ${refName(schema)}`, v(body), ajv.errorsText(v.errors) + ' ' + JSON.stringify(body));
}

function startServer(name, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(serverBin, ['--host', '127.0.0.1', '--port', '0', '--metrics_port', '-1', '--http_port', '0',
                                '--plaintext', ...args]);
    procs.push(p);
    let log = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${log}`)), 120000);
    p.stderr.on('data', d => {
      log += d;
      const m = log.match(/http_port=(\d+)/);
      if (m) { clearTimeout(timer); resolve(`http://127.0.0.1:${m[1]}`); }
    });
    p.on('exit', code => reject(new Error(`${name} exited ${code}: ${log}`)));
  });
}

async function call(base, method, url, body, headers = {}) {
  const res = await fetch(base + url, {method: method.toUpperCase(), headers: {'Content-Type': 'application/json', ...headers},
                                       body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await res.text();
  return {status: res.status, type: res.headers.get('content-type') || '', text};
}
function parseSse(text) {
  const events = [];
  for (const block of text.split('\n\n')) {
    let name = null, data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) name = line.slice(6).trim();
      else if (line.startsWith('data:')) data += line.slice(5).trim();
    }
    if (data) events.push({name, data: JSON.parse(data)});
  }
  return events;
}
// Validates an Explain stream (SSE or NDJSON) event by event.
function validateStream(r, ndjson, what) {
  exercised.add(`post /v1/explain ${r.status}`);
  const content = spec.paths['/v1/explain'].post.responses['200'].content;
  check(`${what}: content type ${r.type}`, r.type.startsWith(ndjson ? 'application/x-ndjson' : 'text/event-stream'));
  const response = validator('ExplainResponse'), error = validator('Error'), line = validator(refName(content['application/x-ndjson']['x-line-schema']));
  let bad = null, n = 0;
  const names = [];
  if (ndjson) {
    for (const l of r.text.split('\n')) {
      if (!l.trim()) continue;
      const msg = JSON.parse(l);
      n++;
      names.push(Object.keys(msg)[0]);
      if (!line(msg)) { bad = ajv.errorsText(line.errors) + ' ' + l.slice(0, 300); break; }
    }
  } else {
    for (const ev of parseSse(r.text)) {
      n++;
      names.push(ev.name);
      const v = ev.name === 'error' ? error : response;
      if (!v(ev.data)) { bad = `event ${ev.name}: ` + ajv.errorsText(v.errors) + ' ' + JSON.stringify(ev.data).slice(0, 300); break; }
      if (ev.name !== 'error' && Object.keys(ev.data)[0] !== ev.name) { bad = `event ${ev.name} carries ${Object.keys(ev.data)}`; break; }
    }
  }
  check(`${what}: ${n} events match the description`, bad === null && n > 0, bad || '');
  return names;
}

try {
  const repo = path.join(tmp, 'repo');
  fs.cpSync(path.join(repoRoot, 'models/copy-mamba1-silu'), path.join(repo, 'copy'), {recursive: true});
  const srepo = path.join(tmp, 'srepo');
  fs.mkdirSync(path.join(srepo, 'deep'), {recursive: true});
  const cfg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'tests/fixtures/mamba1_bias_tied/config.json')));
  cfg.num_hidden_layers = 12;
  fs.writeFileSync(path.join(srepo, 'deep/config.json'), JSON.stringify(cfg));
  // A tokenizer for Tokenize's 200: one committed in models/ when there is one, else data/'s.
  const tokenizer = [...fs.readdirSync(path.join(repoRoot, 'models')).map(d => path.join(repoRoot, 'models', d, 'tokenizer.json')),
                     path.join(repoRoot, 'data/gpt-neox-20b-tokenizer.json')]
                    .find(p => fs.existsSync(p));
  if (tokenizer) fs.copyFileSync(tokenizer, path.join(srepo, 'deep/tokenizer.json'));

  const E = await startServer('engine', ['--model_repository', repo, '--max_tokens', '64']);
  const S = await startServer('synthetic', ['--model_repository', srepo, '--backend', 'synthetic',
                                            '--synthetic_layer_delay_ms', '200']);
  const json = r => JSON.parse(r.text);
  let r = await call(E, 'get', '/v1/models');
  validateResponse('get', '/v1/models', r.status, json(r), 'ListModels');
  r = await call(E, 'get', '/v1/models/copy');
  validateResponse('get', '/v1/models/{name}', r.status, json(r), 'GetModel');
  r = await call(E, 'get', '/v1/models/nope');
  validateResponse('get', '/v1/models/{name}', r.status, json(r), 'GetModel unknown');
  r = await call(E, 'post', '/v1/tokenize', {model: 'copy', text: 'x'});
  validateResponse('post', '/v1/tokenize', r.status, json(r), 'Tokenize without a tokenizer');
  if (tokenizer) {
    r = await call(S, 'post', '/v1/tokenize', {model: 'deep', text: 'Hello world'});
    validateResponse('post', '/v1/tokenize', r.status, json(r), 'Tokenize');
  } else {
    console.log('skip Tokenize 200: no tokenizer.json in models/ or the shared data');
    exercised.add('post /v1/tokenize 200');
  }
  const ids = [3, 7, 1, 12, 5, 9, 2, 14, 6, 11];
  const every = {model: 'copy', tokenIds: ids, methods: ['latim-l2', 'latim-alti-logit', 'grad-x-input', 'mamba-attention']};
  r = await call(E, 'post', '/v1/explain', {...every, sparsity: {mode: 'TOP_K', topK: 3}});
  const names = validateStream(r, false, 'Explain SSE (CSR)');
  check('Explain SSE: header first, layerResult and tokenScores, summary last',
        names[0] === 'header' && names.at(-1) === 'summary' && names.includes('layerResult') && names.includes('tokenScores'), names.join(','));
  r = await call(E, 'post', '/v1/explain?format=ndjson', {...every, sparsity: {mode: 'DENSE'}});
  validateStream(r, true, 'Explain NDJSON (dense)');
  r = await call(E, 'post', '/v1/explain', {model: 'copy', tokenIds: ids, methods: ['integrated-gradients', 'mamba-lrp'], progress: true});
  const steps = validateStream(r, false, 'Explain SSE with progress');
  check('Explain SSE with progress: a progress event before each method\'s tokenScores',
        steps.indexOf('progress') > 0 && steps.indexOf('progress') < steps.indexOf('tokenScores') &&
        steps.lastIndexOf('progress') < steps.lastIndexOf('tokenScores'), steps.join(','));
  r = await call(E, 'post', '/v1/explain', {model: 'copy', tokenIds: ids, methods: ['latim-l2'], rowSelection: 'ROW_SELECTION_LAST'},
                 {Accept: 'application/x-ndjson'});
  validateStream(r, true, 'Explain NDJSON (Accept, last row)');
  for (const [what, body] of [['unknown method', {model: 'copy', tokenIds: ids, methods: ['nope']}],
                              ['unknown model', {model: 'nope', tokenIds: ids, methods: ['latim-l2']}],
                              ['too many tokens', {model: 'copy', tokenIds: Array(65).fill(1), methods: ['latim-l2']}]]) {
    r = await call(E, 'post', '/v1/explain', body);
    validateResponse('post', '/v1/explain', r.status, json(r), `Explain ${what}`);
  }
  // An error after the 200: the deadline passes mid-stream (12 layers x 200 ms, 700 ms allowed).
  r = await call(S, 'post', '/v1/explain', {model: 'deep', tokenIds: [1, 2, 3], methods: ['synthetic-decay']}, {'Grpc-Timeout': '700m'});
  const late = validateStream(r, false, 'Explain SSE ending in an error');
  const lastEvent = parseSse(r.text).at(-1);
  check('mid-stream deadline: header, results, then an error event DEADLINE_EXCEEDED',
        late[0] === 'header' && late.at(-1) === 'error' && lastEvent.data.status === 'DEADLINE_EXCEEDED', late.join(','));
  r = await call(S, 'post', '/v1/explain?format=ndjson', {model: 'deep', tokenIds: [1, 2, 3], methods: ['synthetic-decay']}, {'Grpc-Timeout': '700m'});
  const lateNd = validateStream(r, true, 'Explain NDJSON ending in an error');
  check('mid-stream deadline in NDJSON: a final {"error"} line', lateNd.at(-1) === 'error', lateNd.join(','));

  for (const [template, ops] of Object.entries(spec.paths)) {
    for (const method of Object.keys(ops)) {
      check(`${method.toUpperCase()} ${template} exercised with 200`, exercised.has(`${method} ${template} 200`));
    }
  }
} catch (e) {
  check('OpenAPI check ran', false, e.stack || String(e));
}
for (const p of procs) p.kill('SIGKILL');
fs.rmSync(tmp, {recursive: true, force: true});
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
