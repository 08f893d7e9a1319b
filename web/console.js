// The live console served by mamba-explaind at / (docs/api.md): lists the models
// (GET /v1/models), builds an ExplainRequest from the form, POSTs it to /v1/explain and reads the
// Server-Sent Events as they arrive, feeding each ExplainResponse to the shared views
// (explain_view.js) so that the heatmaps, per-layer scores and progress fill in while the
// server computes. Stop (or closing the page) disconnects, which cancels the computation.
// State for tests and tools: window.mxConsole and <body data-state="idle|streaming|done|error">.
(function () {
  'use strict';
  const $ = id => document.getElementById(id);
  const state = {x: null, view: null, events: 0, abort: null, models: []};
  window.mxConsole = state;
  const token = sessionStorage.getItem('mx-token');
  if (token) $('token').value = token;

  function headers(extra) {
    const h = Object.assign({}, extra || {});
    const t = $('token').value.trim();
    if (t) h.Authorization = 'Bearer ' + t;
    return h;
  }
  function setStatus(text, error) {
    $('status').textContent = text;
    $('status').className = 'cx-status' + (error ? ' error' : '');
  }
  function setState(s) { document.body.dataset.state = s; }
  async function errorText(res) {
    try {
      const e = await res.json();
      return 'HTTP ' + res.status + ' ' + e.status + ': ' + e.message;
    } catch (_) {
      return 'HTTP ' + res.status;
    }
  }

  async function loadModels() {
    const res = await fetch('/v1/models', {headers: headers()});
    if (!res.ok) { setStatus(await errorText(res), true); return; }
    state.models = (await res.json()).models || [];
    const sel = $('model');
    sel.innerHTML = '';
    for (const m of state.models) {
      const o = new Option(m.name + (m.state === 'READY' ? '' : ' (' + m.state + ')'), m.name);
      o.disabled = m.state !== 'READY';
      sel.add(o);
    }
    const ready = state.models.find(m => m.state === 'READY');
    if (ready) sel.value = ready.name;
    showModel();
  }

  function showModel() {
    const m = state.models.find(q => q.name === $('model').value);
    const box = $('methods');
    box.innerHTML = 'methods: ';
    if (!m) return;
    $('model-info').textContent = m.architecture + ', ' + m.nLayers + ' layers, vocabulary ' +
        m.vocabSize + ', up to ' + m.maxTokens + ' tokens' + (m.hasTokenizer ? '' : ', no tokenizer (give ids)');
    if (!m.hasTokenizer) document.querySelector('input[name=kind][value=ids]').checked = true;
    m.methods.forEach((name, i) => {
      const l = document.createElement('label');
      const c = document.createElement('input');
      c.type = 'checkbox';
      c.value = name;
      c.checked = i === 0 || name === 'latim-l2';
      l.append(c, ' ' + name);
      box.appendChild(l);
    });
  }

  // "all" -> []; "0,3,5-7" -> [0,3,5,6,7]
  function parseList(text, what) {
    const t = text.trim();
    if (t === '' || t === 'all') return [];
    const out = [];
    for (const part of t.split(',')) {
      const m = part.trim().match(/^(\d+)(?:-(\d+))?$/);
      if (!m) throw new Error('bad ' + what + ' "' + part + '"');
      for (let i = Number(m[1]); i <= Number(m[2] || m[1]); ++i) out.push(i);
    }
    return out;
  }

  // The form as an ExplainRequest in the proto3 JSON mapping.
  function buildRequest() {
    // progress: the long methods' steps arrive as "progress" events (renderProgress shows them).
    const req = {model: $('model').value, progress: true};
    const input = $('input').value;
    if (document.querySelector('input[name=kind]:checked').value === 'ids') {
      req.tokenIds = parseList(input.replace(/\s+/g, ''), 'id');
    } else {
      req.text = input;
    }
    req.methods = [...document.querySelectorAll('#methods input:checked')].map(c => c.value);
    req.layers = parseList($('layers').value, 'layer');
    const rows = $('rows').value.trim();
    if (rows === 'last') req.rowSelection = 'ROW_SELECTION_LAST';
    else req.targetRows = parseList(rows, 'row');
    const mode = $('sparsity').value, v = Number($('sparsity-value').value);
    req.sparsity = mode === 'dense' ? {mode: 'DENSE'} : mode === 'top_k' ? {mode: 'TOP_K', topK: v}
                 : mode === 'mass' ? {mode: 'MASS', mass: v} : {mode: 'THRESHOLD', threshold: v};
    if ($('target').value.trim() !== '') req.targetToken = Number($('target').value);
    return req;
  }

  let frame = 0;
  function render() {
    const p = MambaExplain.renderProgress($('progress'), state.x);
    $('bar').style.width = (100 * p).toFixed(1) + '%';
    state.view.update();
  }
  // At most one render per animation frame, however fast the events come.
  function redraw() {
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; render(); });
  }
  // The last render happens before the state changes, so that "done" means drawn.
  function settle(s) {
    if (frame) { cancelAnimationFrame(frame); frame = 0; }
    if (state.x) render();
    $('run').disabled = false;
    $('stop').disabled = true;
    setState(s);
  }

  function onEvent(name, data) {
    const msg = JSON.parse(data);
    state.events++;
    if (name === 'error') {
      state.x.error = msg;
      setStatus('stream ended with ' + msg.status + ': ' + msg.message, true);
    } else {
      state.x.addEvent(msg);
      const got = state.x.results.filter(r => r.done).length;
      setStatus('streaming: ' + got + ' results');
    }
    redraw();
  }

  // Server-Sent Events over fetch (EventSource cannot POST): events are separated by a blank
  // line; "event:" names them, "data:" carries the JSON, lines starting with ":" are keep-alives.
  async function readEvents(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = 'message', data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) name = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).trim();
        }
        if (data) onEvent(name, data);
      }
    }
  }

  async function run(ev) {
    ev.preventDefault();
    sessionStorage.setItem('mx-token', $('token').value.trim());
    let req;
    try {
      req = buildRequest();
    } catch (e) {
      setStatus(e.message, true);
      return;
    }
    state.x = new MambaExplain.Explanation();
    $('view').innerHTML = '';
    state.view = new MambaExplain.View($('view'), state.x, {hash: false});
    state.events = 0;
    state.abort = new AbortController();
    $('run').disabled = true;
    $('stop').disabled = false;
    setState('streaming');
    setStatus('sending\u2026');
    const started = performance.now();
    try {
      const res = await fetch('/v1/explain', {
        method: 'POST', body: JSON.stringify(req), signal: state.abort.signal,
        headers: headers({'Content-Type': 'application/json', Accept: 'text/event-stream'})});
      if (!res.ok) {
        setStatus(await errorText(res), true);
        settle('error');
      } else {
        await readEvents(res.body);
        if (state.x.error) {
          settle('error');
        } else {
          setStatus('done: ' + state.x.results.length + ' results in ' +
                    ((performance.now() - started) / 1000).toFixed(2) + ' s');
          settle('done');
        }
      }
    } catch (e) {
      const stopped = e.name === 'AbortError';
      setStatus(stopped ? 'stopped (the server cancels the computation)' : String(e), !stopped);
      settle(stopped ? 'stopped' : 'error');
    }
  }

  $('form').addEventListener('submit', run);
  $('stop').addEventListener('click', () => state.abort && state.abort.abort());
  $('model').addEventListener('change', showModel);
  loadModels().catch(e => setStatus(String(e), true));
})();
