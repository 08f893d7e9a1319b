// mamba-explain report views: the one implementation of the explanation views, shared by the
// live console that mamba-explaind serves at / (fed by the Explain event stream) and by the HTML
// report of `mamba-explain explain --html` (fed by the JSON embedded in the page). Both are
// compiled into the binaries (web/web_assets.h); nothing is loaded from the network.
//
//   MambaExplain.Explanation  the data: tokens, results (method, layer, rows of sparse entries),
//                             summary; built from ExplainResponse events (addEvent) or from a
//                             report document (fromReport)
//   MambaExplain.View         the views over one Explanation: a virtualised canvas heatmap (zoom,
//                             sticky token labels, hover values, selected row, colour bar), the
//                             text saliency of one row, methods side by side, the explained
//                             token/logit, approximation error or completeness gap per result,
//                             word-level aggregation of subword tokens, PNG (heatmap) and SVG
//                             (text saliency of a row) export
//
// Sign convention everywhere: red = positive contribution (raises the target), blue = negative;
// white = 0; grey = not computed (right of the diagonal, or dropped by sparsification).
(function (global) {
  'use strict';

  const num = x => (typeof x === 'number' ? x : Number(x));  // proto JSON: "NaN", "Infinity"
  // Values as the views print them: 4 significant digits (the browser test reads these).
  function fmt(v) {
    if (v === undefined || v === null) return 'n/a';
    if (!Number.isFinite(v)) return String(v);
    if (v === 0) return '0';
    const a = Math.abs(v);
    return a >= 1e-3 && a < 1e5 ? String(Number(v.toPrecision(4))) : v.toExponential(3);
  }
  // Token text with its whitespace made visible (labels); empty tokens as the empty-set sign.
  function visible(t) {
    if (t === '') return '\u2205';
    return t.replace(/\n/g, '\u23ce').replace(/\t/g, '\u21e5').replace(/ /g, '\u00b7');
  }

  // ---------------------------------------------------------------------------------------------
  // Explanation: the data of one request. A result is one (method, layer): rows are target
  // positions, each row a sparse list of (source column, value) sorted by column.
  class Explanation {
    constructor() {
      this.meta = {};
      this.tokens = [];
      this.ids = [];
      this.targetRows = [];
      this.targetTokens = [];
      this.methods = [];
      this.layers = [];
      this.results = [];
      this.steps = {};  // method -> {done, total}: the long methods' Progress events
      this.byKey = new Map();
      this.summary = null;
      this.error = null;
      this.version = 0;  // bumped on every change, so views redraw only when needed
    }

    result(method, layer, kind) {
      const key = method + '/' + layer;
      let r = this.byKey.get(key);
      if (!r) {
        r = {method, layer, kind, rows: [], entries: [], targets: [], logits: [],
             approxError: NaN, keptMass: NaN, topK: null, done: false, version: 0};
        this.byKey.set(key, r);
        this.results.push(r);
        if (!this.methods.includes(method)) this.methods.push(method);
      }
      return r;
    }

    // One ExplainResponse in the proto3 JSON mapping ({"header": ...} | {"inputTokens": ...} |
    // {"layerResult": ...} | {"tokenScores": ...} | {"progress": ...} | {"summary": ...});
    // snake_case field names are accepted too. A long input's ids and token strings continue in
    // inputTokens events after the header (explain.proto); they are appended at their offset.
    addEvent(ev) {
      const pick = (o, camel, snake) => (o[camel] !== undefined ? o[camel] : o[snake]);
      const arr = (o, camel, snake) => pick(o, camel, snake) || [];
      const h = ev.header, l = pick(ev, 'layerResult', 'layer_result');
      const t = pick(ev, 'tokenScores', 'token_scores'), s = ev.summary;
      const it = pick(ev, 'inputTokens', 'input_tokens');
      if (ev.progress) {  // a long method's items done of the total (requests with progress)
        const pr = ev.progress;
        this.steps[pr.method] = {done: num(pr.done), total: num(pr.total)};
        if (!this.methods.includes(pr.method)) this.methods.push(pr.method);
      } else if (it) {
        const offset = num(it.offset || 0), ids = arr(it, 'tokenIds', 'token_ids');
        if (offset !== this.ids.length) {
          this.error = {status: 'DATA_LOSS', message: 'input tokens at offset ' + offset +
                        ' after ' + this.ids.length + ' ids'};
        } else {
          for (const id of ids) this.ids.push(num(id));
          for (const tok of it.tokens || []) this.tokens.push(tok);
        }
      } else if (h) {
        this.meta = {model: h.model, architecture: h.architecture,
                     nLayers: pick(h, 'nLayers', 'n_layers'),
                     requestId: pick(h, 'requestId', 'request_id'), precision: h.precision,
                     activation: h.activation, sparsity: h.sparsity};
        this.ids = arr(h, 'tokenIds', 'token_ids').map(num);
        this.tokens = arr(h, 'tokens', 'tokens');
        this.methods = (h.methods || []).slice();
        this.layers = (h.layers || []).map(num);
        this.targetRows = arr(h, 'targetRows', 'target_rows').map(num);
        this.targetTokens = arr(h, 'targetTokens', 'target_tokens').map(num);
      } else if (l) {
        const r = this.result(l.method, num(l.layer || 0), 'matrix');
        const begin = num(pick(l, 'rowBegin', 'row_begin') || 0);
        const end = num(pick(l, 'rowEnd', 'row_end') || 0);
        const ncol = num(pick(l, 'numColumns', 'num_columns') || 0);
        const offsets = arr(l, 'rowOffsets', 'row_offsets'), cols = arr(l, 'colIndices', 'col_indices');
        const values = l.values || [], dense = arr(l, 'denseValues', 'dense_values');
        if (r.rows.length === 0) r.rows = this.targetRows.slice();
        for (let k = begin; k < end; ++k) {
          const c = [], v = [];
          if (dense.length > 0) {
            for (let j = 0; j < ncol; ++j) {
              const x = num(dense[(k - begin) * ncol + j]);
              if (x !== 0) { c.push(j); v.push(x); }
            }
          } else if (offsets.length > 0) {
            for (let e = num(offsets[k - begin]); e < num(offsets[k - begin + 1]); ++e) {
              c.push(num(cols[e])); v.push(num(values[e]));
            }
          }
          r.entries[k] = {c: Int32Array.from(c), v: Float32Array.from(v)};
        }
        if (pick(l, 'lastBlock', 'last_block')) {
          r.done = true;
          r.approxError = num(pick(l, 'approxError', 'approx_error'));
          r.keptMass = num(pick(l, 'keptMass', 'kept_mass'));
          const tt = arr(l, 'targetTokens', 'target_tokens');
          if (tt.length) r.targets = tt.map(num);
        }
        r.version++;
      } else if (t) {
        const r = this.result(t.method, num(t.layer || 0), 'scores');
        const ncol = num(pick(t, 'numColumns', 'num_columns') || 0);
        const rows = arr(t, 'targetRows', 'target_rows').map(num);
        const scores = t.scores || [], tt = arr(t, 'targetTokens', 'target_tokens');
        const logits = arr(t, 'explainedLogits', 'explained_logits');
        rows.forEach((pos, k) => {
          const c = [], v = [];
          for (let j = 0; j < ncol; ++j) {
            const x = num(scores[k * ncol + j]);
            if (x !== 0) { c.push(j); v.push(x); }
          }
          r.rows.push(pos);
          r.entries.push({c: Int32Array.from(c), v: Float32Array.from(v)});
          r.targets.push(tt.length ? num(tt[k]) : null);
          r.logits.push(logits.length ? num(logits[k]) : null);
        });
        r.approxError = num(pick(t, 'approxError', 'approx_error'));
        r.keptMass = 1;
        r.done = r.rows.length >= this.targetRows.length;
        r.version++;
      } else if (s) {
        this.summary = s;
        for (const r of this.results) r.done = true;
      } else if (ev.error) {
        this.error = ev.error;
      }
      this.version++;
    }

    // The report document written by `mamba-explain explain --html` (client/html_report.cc):
    // {"format": "mamba-explain-report/1", "tokens", "ids", "target_rows", "results": [{"method",
    // "layer", "kind", "rows", "entries": [[cols], [values]] per row, "approx_error",
    // "kept_mass", "top_k", "targets", "explained_logit"}], "summary"}.
    static fromReport(doc) {
      const x = new Explanation();
      x.meta = {model: doc.model, architecture: doc.architecture, precision: doc.precision,
                requestId: doc.request_id, source: doc.source, targetText: doc.target_text || {}};
      x.tokens = doc.tokens || [];
      x.ids = doc.ids || [];
      x.targetRows = doc.target_rows || [];
      x.layers = doc.layers || [];
      for (const d of doc.results || []) {
        const r = x.result(d.method, d.layer, d.kind);
        r.rows = d.rows;
        r.entries = d.entries.map(e => ({c: Int32Array.from(e[0]), v: Float32Array.from(e[1].map(num))}));
        r.targets = d.targets || [];
        r.logits = (d.explained_logit || []).map(num);
        r.approxError = d.approx_error === null || d.approx_error === undefined ? NaN : num(d.approx_error);
        r.keptMass = d.kept_mass === null || d.kept_mass === undefined ? NaN : num(d.kept_mass);
        r.topK = d.top_k || null;
        r.done = true;
      }
      x.summary = doc.summary || null;
      x.version++;
      return x;
    }

    label(j) {
      const t = j < this.tokens.length ? this.tokens[j] : '';
      return t === '' && j < this.ids.length ? '#' + this.ids[j] : visible(t);
    }
    // Word of each token: a word starts at a token that begins with whitespace or a
    // non-alphanumeric character, or after a token that ends with one (GPT-NeoX byte-level BPE
    // puts the space in front of the word).
    words() {
      if (this._words && this._words.n === this.tokens.length) return this._words;
      const alnum = /[\p{L}\p{N}_]/u;
      const of = [], text = [];
      this.tokens.forEach((t, j) => {
        const prev = j > 0 ? this.tokens[j - 1] : '';
        const starts = j === 0 || t === '' || !alnum.test(t[0]) || prev === '' ||
                       !alnum.test(prev[prev.length - 1]);
        if (starts) text.push('');
        of.push(text.length - 1);
        text[text.length - 1] += t;
      });
      this._words = {n: this.tokens.length, of, text: text.map(visible)};
      return this._words;
    }
    // Results expected per method for the progress display: a method whose first result is the
    // whole model (layer -1) has one; a per-layer method one per header layer.
    progress() {
      const out = [];
      for (const m of this.methods) {
        const mine = this.results.filter(r => r.method === m);
        const perLayer = mine.some(r => r.layer >= 0);
        const expected = mine.length === 0 ? null : perLayer ? this.layers.length : 1;
        out.push({method: m, expected, done: mine.filter(r => r.done).length,
                  layers: mine.map(r => ({layer: r.layer, done: r.done})),
                  steps: this.steps[m] || null});
      }
      return out;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Colours: a diverging blue-white-red palette of 201 levels, cached as CSS strings.
  const POS = [178, 24, 43], NEG = [33, 102, 172];
  const PALETTE = [];
  for (let i = -100; i <= 100; ++i) {
    const a = Math.abs(i) / 100, c = i >= 0 ? POS : NEG;
    const ch = k => Math.round(255 + (c[k] - 255) * a);
    PALETTE.push('rgb(' + ch(0) + ',' + ch(1) + ',' + ch(2) + ')');
  }
  function color(v, scale) {
    if (!(scale > 0) || !Number.isFinite(v)) return PALETTE[100];
    const q = Math.max(-100, Math.min(100, Math.round(100 * v / scale)));
    return PALETTE[q + 100];
  }
  const NA = '#ececec';

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---------------------------------------------------------------------------------------------
  class View {
    // root: an element to fill; x: an Explanation (may still be filling, call update()).
    constructor(root, x, opts) {
      this.x = x;
      this.opts = Object.assign({hash: true}, opts || {});
      this.sel = {method: null, layer: null, pos: null};
      this.zoom = null;  // px per cell; null = fit the width
      this.words = false;
      this.rowScale = false;
      this.drawn = -1;
      this.cache = new Map();
      const want = this.opts.hash ? new URLSearchParams(location.hash.slice(1)) : new URLSearchParams();
      if (want.has('method')) this.sel.method = want.get('method');
      if (want.has('layer')) { this.sel.layer = Number(want.get('layer')); this.picked = true; }
      if (want.has('row')) this.sel.pos = Number(want.get('row'));
      if (want.get('words') === '1') this.words = true;
      this.build(root);
      this.update();
    }

    build(root) {
      root.classList.add('mx');
      const bar = el('div', 'mx-bar');
      const lab = (text, input) => { const l = el('label', null, text + ' '); l.appendChild(input); bar.appendChild(l); return input; };
      this.methodSel = lab('method', el('select', 'mx-method'));
      this.layerSel = lab('layer', el('select', 'mx-layer'));
      this.rowSel = lab('target row', el('select', 'mx-row'));
      this.wordsBox = lab('words', el('input', 'mx-words'));
      this.wordsBox.type = 'checkbox';
      this.wordsBox.checked = this.words;
      this.wordsBox.title = 'sum the sources of each word (subword tokens merged)';
      this.scaleBox = lab('scale per row', el('input', 'mx-rowscale'));
      this.scaleBox.type = 'checkbox';
      this.zoomIn = lab('zoom', el('input', 'mx-zoom'));
      Object.assign(this.zoomIn, {type: 'range', min: 1, max: 32, step: 1});
      this.pngBtn = el('button', 'mx-png', 'PNG');
      this.pngBtn.title = 'download the whole heatmap as PNG';
      bar.appendChild(this.pngBtn);
      this.svgBtn = el('button', 'mx-svg', 'SVG');
      this.svgBtn.title = 'download the text saliency of the selected row as SVG (vector, for papers)';
      bar.appendChild(this.svgBtn);
      root.appendChild(bar);
      this.info = root.appendChild(el('div', 'mx-info'));
      // Heatmap: a canvas the size of the box, under a transparent scroller whose spacer has the
      // size of the whole matrix; only the visible cells are drawn (2 000 x 2 000 stays fast).
      const heat = root.appendChild(el('div', 'mx-heat'));
      this.canvas = heat.appendChild(el('canvas', 'mx-canvas'));
      this.scroller = heat.appendChild(el('div', 'mx-scroll'));
      this.spacer = this.scroller.appendChild(el('div', 'mx-spacer'));
      this.tip = heat.appendChild(el('div', 'mx-tip'));
      this.heatBox = heat;
      const cb = root.appendChild(el('div', 'mx-colorbar'));
      this.cbLow = cb.appendChild(el('span', 'mx-cb-low'));
      this.cbCanvas = cb.appendChild(el('canvas', 'mx-cb'));
      this.cbHigh = cb.appendChild(el('span', 'mx-cb-high'));
      cb.appendChild(el('span', 'mx-cb-note',
          'red: positive contribution (raises the target), blue: negative, white: 0, ' +
          'grey: not computed (right of the diagonal) or dropped by sparsification'));
      root.appendChild(el('h3', null, 'Text saliency of the selected row'));
      this.text = root.appendChild(el('div', 'mx-text'));
      root.appendChild(el('h3', null, 'Methods side by side (selected row)'));
      this.compare = root.appendChild(el('div', 'mx-compare'));
      root.appendChild(el('h3', null, 'Results'));
      this.table = root.appendChild(el('table', 'mx-results'));
      this.summaryHead = root.appendChild(el('h3', null, 'Summary'));
      this.summary = root.appendChild(el('table', 'mx-summary'));

      this.methodSel.addEventListener('change', () => { this.sel.method = this.methodSel.value; this.sel.layer = null; this.picked = false; this.refresh(); });
      this.layerSel.addEventListener('change', () => { this.sel.layer = Number(this.layerSel.value); this.picked = true; this.refresh(); });
      this.rowSel.addEventListener('change', () => { this.sel.pos = Number(this.rowSel.value); this.refresh(); });
      this.wordsBox.addEventListener('change', () => { this.words = this.wordsBox.checked; this.cache.clear(); this.refresh(); });
      this.scaleBox.addEventListener('change', () => { this.rowScale = this.scaleBox.checked; this.refresh(); });
      this.zoomIn.addEventListener('input', () => { this.zoom = Number(this.zoomIn.value); this.refresh(); });
      this.pngBtn.addEventListener('click', () => this.exportPng());
      this.svgBtn.addEventListener('click', () => this.download(this.rowSvg(), 'image/svg+xml', '.svg'));
      this.scroller.addEventListener('scroll', () => this.drawHeat());
      this.scroller.addEventListener('mousemove', ev => this.hover(ev));
      this.scroller.addEventListener('mouseleave', () => { this.tip.style.display = 'none'; });
      this.scroller.addEventListener('click', ev => {
        const cell = this.cellAt(ev);
        if (cell) { this.sel.pos = cell.pos; this.refresh(); }
      });
      this.scroller.addEventListener('wheel', ev => {
        if (!ev.ctrlKey) return;
        ev.preventDefault();
        this.zoom = Math.max(1, Math.min(32, this.cell() + (ev.deltaY < 0 ? 1 : -1)));
        this.refresh();
      }, {passive: false});
      window.addEventListener('resize', () => this.refresh());
    }

    // The selected result, after fixing the selection to something that exists.
    current() {
      const x = this.x;
      if (x.results.length === 0) return null;
      const methods = x.methods.filter(m => x.results.some(r => r.method === m));
      if (!methods.includes(this.sel.method)) this.sel.method = methods[0];
      const mine = x.results.filter(r => r.method === this.sel.method);
      // Until the user picks a layer, follow the top one (while streaming: the newest).
      let r = this.picked ? mine.find(q => q.layer === this.sel.layer) : null;
      if (!r) {  // the top layer: where the copy-task diagonal shows, and LaTIM's last word
        r = mine.reduce((a, b) => (b.layer > a.layer ? b : a));
        this.sel.layer = r.layer;
      }
      const filled = r.rows.filter((p, k) => r.entries[k]);
      if (!filled.includes(this.sel.pos) && filled.length) this.sel.pos = filled[filled.length - 1];
      return r;
    }

    // Row k of r, with the sources summed per word in word mode (cached per result version).
    rowOf(r, k) {
      const e = r.entries[k];
      if (!e || !this.words) return e;
      const key = r.method + '/' + r.layer + '/' + k + '/' + r.version;
      let w = this.cache.get(key);
      if (!w) {
        const of = this.x.words().of, sums = new Map();
        for (let i = 0; i < e.c.length; ++i) sums.set(of[e.c[i]], (sums.get(of[e.c[i]]) || 0) + e.v[i]);
        const cols = [...sums.keys()].sort((a, b) => a - b);
        w = {c: Int32Array.from(cols), v: Float32Array.from(cols.map(c => sums.get(c)))};
        this.cache.set(key, w);
      }
      return w;
    }
    ncols() { return this.words ? this.x.words().text.length : Math.max(this.x.tokens.length, this.x.ids.length); }
    colLabel(c) { return this.words ? this.x.words().text[c] : this.x.label(c); }
    colOfPos(p) { return this.words ? this.x.words().of[p] : p; }
    maxAbs(r) {
      const key = 'max/' + r.method + '/' + r.layer + '/' + r.version + '/' + this.words;
      let m = this.cache.get(key);
      if (m === undefined) {
        m = 0;
        r.entries.forEach((e, k) => { const w = this.rowOf(r, k); if (w) for (const v of w.v) m = Math.max(m, Math.abs(v)); });
        this.cache.set(key, m);
      }
      return m;
    }
    rowMax(w) { let m = 0; if (w) for (const v of w.v) m = Math.max(m, Math.abs(v)); return m; }
    valueAt(w, c) {
      if (!w) return undefined;
      let lo = 0, hi = w.c.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (w.c[mid] === c) return w.v[mid];
        if (w.c[mid] < c) lo = mid + 1; else hi = mid - 1;
      }
      return undefined;
    }

    // Redraws whatever depends on the data when it changed (the console calls this per event,
    // throttled to animation frames).
    update() {
      if (this.drawn === this.x.version) return;
      this.drawn = this.x.version;
      this.refresh();
    }

    refresh() {
      const r = this.current();
      this.fillControls(r);
      this.reveal(r);
      this.drawHeat();
      this.drawInfo(r);
      this.drawText(r);
      this.drawCompare(r);
      this.drawResults(r);
      this.drawSummary();
      if (this.opts.hash && r) {
        const h = 'method=' + encodeURIComponent(r.method) + '&layer=' + r.layer + '&row=' + this.sel.pos +
                  (this.words ? '&words=1' : '');
        if (location.hash.slice(1) !== h) history.replaceState(null, '', '#' + h);
      }
    }

    fillControls(r) {
      const x = this.x;
      const setOptions = (sel, items, value) => {
        const key = items.map(i => i[0] + '=' + i[1]).join('|');
        if (sel.dataset.key !== key) {
          sel.innerHTML = '';
          for (const [v, t] of items) sel.add(new Option(t, v));
          sel.dataset.key = key;
        }
        sel.value = String(value);
      };
      const methods = x.methods.filter(m => x.results.some(q => q.method === m));
      setOptions(this.methodSel, methods.map(m => [m, m]), this.sel.method);
      const layers = x.results.filter(q => q.method === this.sel.method).map(q => q.layer).sort((a, b) => a - b);
      setOptions(this.layerSel, layers.map(l => [l, l < 0 ? 'whole model (-1)' : String(l)]), this.sel.layer);
      const rows = r ? r.rows.filter((p, k) => r.entries[k]) : [];
      setOptions(this.rowSel, rows.map(p => [p, p + ': ' + x.label(p)]), this.sel.pos);
      this.zoomIn.value = String(this.cell());
    }

    // Layout of the heatmap: label margins, cell size, box height.
    layout(r) {
      const W = Math.max(200, this.heatBox.clientWidth || 800);
      const L = 120, T = 70;
      const nrows = r ? r.rows.length : 0, ncols = this.ncols();
      const z = this.cell(W - L - 16, ncols);
      const H = Math.max(160, Math.min(620, T + nrows * z + 18));
      return {W, H, L, T, z, nrows, ncols};
    }
    cell(avail, ncols) {
      if (this.zoom) return this.zoom;
      if (avail === undefined) {
        const W = Math.max(200, this.heatBox.clientWidth || 800);
        avail = W - 136;
        ncols = this.ncols();
      }
      return Math.max(1, Math.min(24, Math.floor(avail / Math.max(1, ncols))));
    }

    // Scrolls the heatmap so that the selected row is visible (once per selection: the user's
    // own scrolling is left alone afterwards).
    reveal(r) {
      if (!r) return;
      const key = r.method + '/' + r.layer + '/' + this.sel.pos + '/' + this.cell();
      if (this.revealed === key) return;
      const k = r.rows.indexOf(this.sel.pos);
      if (k < 0) return;
      this.revealed = key;
      const g = this.layout(r);
      // The spacer must have its size before scrollTop can be set.
      this.heatBox.style.height = g.H + 'px';
      this.spacer.style.width = (g.L + g.ncols * g.z) + 'px';
      this.spacer.style.height = (g.T + g.nrows * g.z) + 'px';
      const view = g.H - g.T - 18, y = k * g.z;
      const st = this.scroller.scrollTop;
      if (y < st || y + g.z > st + view) this.scroller.scrollTop = Math.max(0, y - view / 2);
      const x = this.colOfPos(this.sel.pos) * g.z, viewW = g.W - g.L - 18, sl = this.scroller.scrollLeft;
      if (x < sl || x + g.z > sl + viewW) this.scroller.scrollLeft = Math.max(0, x - viewW / 2);
    }

    drawHeat() {
      const r = this.current();
      const g = this.layout(r);
      const {W, H, L, T, z} = g;
      this.geom = g;
      this.heatBox.style.height = H + 'px';
      this.spacer.style.width = (L + g.ncols * z) + 'px';
      this.spacer.style.height = (T + g.nrows * z) + 'px';
      const dpr = window.devicePixelRatio || 1;
      const cv = this.canvas;
      if (cv.width !== Math.round(W * dpr) || cv.height !== Math.round(H * dpr)) {
        cv.width = Math.round(W * dpr);
        cv.height = Math.round(H * dpr);
        cv.style.width = W + 'px';
        cv.style.height = H + 'px';
      }
      const ctx = cv.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, W, H);
      if (!r) return;
      const sl = this.scroller.scrollLeft, st = this.scroller.scrollTop;
      const c0 = Math.floor(sl / z), c1 = Math.min(g.ncols, Math.ceil((sl + W - L) / z));
      const r0 = Math.floor(st / z), r1 = Math.min(g.nrows, Math.ceil((st + H - T) / z));
      const scale = this.maxAbs(r);
      ctx.save();
      ctx.beginPath();
      ctx.rect(L, T, W - L, H - T);
      ctx.clip();
      ctx.fillStyle = NA;
      ctx.fillRect(L, T, Math.min(W - L, g.ncols * z - sl), Math.min(H - T, g.nrows * z - st));
      for (let k = r0; k < r1; ++k) {
        const w = this.rowOf(r, k);
        const y = T + k * z - st;
        const last = this.colOfPos(r.rows[k]);
        // white up to the diagonal: computed (zeros show white), grey beyond
        ctx.fillStyle = '#fff';
        ctx.fillRect(L + c0 * z - sl, y, (Math.min(last + 1, c1) - c0) * z, z);
        if (!w) continue;
        const s = this.rowScale ? this.rowMax(w) : scale;
        for (let i = 0; i < w.c.length; ++i) {
          const c = w.c[i];
          if (c < c0 || c >= c1) continue;
          ctx.fillStyle = color(w.v[i], s);
          ctx.fillRect(L + c * z - sl, y, z, z);
        }
      }
      const k = r.rows.indexOf(this.sel.pos);
      if (k >= 0) {
        ctx.strokeStyle = '#000';
        ctx.lineWidth = 2;
        ctx.strokeRect(L + 1 - sl, T + k * z - st, g.ncols * z, z);
      }
      ctx.restore();
      // Sticky labels: rows in the left margin, columns (rotated) in the top margin; every
      // label when the cells are tall enough to read, else every n-th.
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, L, H);
      ctx.fillRect(0, 0, W, T);
      ctx.fillStyle = '#222';
      const font = Math.max(8, Math.min(12, z - 1));
      ctx.font = font + 'px sans-serif';
      const every = Math.max(1, Math.ceil((font + 2) / z));
      ctx.textBaseline = 'middle';
      ctx.textAlign = 'right';
      ctx.save();
      ctx.beginPath();
      ctx.rect(0, T, L, H - T);
      ctx.clip();
      for (let k2 = r0; k2 < r1; ++k2) {
        if (k2 % every !== 0 && k2 !== k) continue;
        const p = r.rows[k2];
        ctx.font = (k2 === k ? 'bold ' : '') + font + 'px sans-serif';
        ctx.fillText(clip(this.x.label(p), 14) + ' ' + p, L - 4, T + k2 * z - st + z / 2);
      }
      ctx.restore();
      ctx.save();
      ctx.beginPath();
      ctx.rect(L, 0, W - L, T);
      ctx.clip();
      ctx.font = font + 'px sans-serif';
      ctx.textAlign = 'left';
      for (let c = c0; c < c1; ++c) {
        if (c % every !== 0) continue;
        ctx.save();
        ctx.translate(L + c * z - sl + z / 2, T - 4);
        ctx.rotate(-Math.PI / 2);
        ctx.fillText(clip(this.colLabel(c), 9) + (this.words ? '' : ' ' + c), 0, 0);
        ctx.restore();
      }
      ctx.restore();
      this.drawColorbar(this.rowScale ? null : scale);
    }

    drawColorbar(scale) {
      const cv = this.cbCanvas, w = 240, h = 12;
      cv.width = w;
      cv.height = h;
      const ctx = cv.getContext('2d');
      for (let i = 0; i < w; ++i) {
        ctx.fillStyle = PALETTE[Math.round((i / (w - 1)) * 200)];
        ctx.fillRect(i, 0, 1, h);
      }
      this.cbLow.textContent = scale === null ? '-max |row|' : fmt(-scale);
      this.cbHigh.textContent = scale === null ? '+max |row|' : fmt(scale);
    }

    cellAt(ev) {
      const g = this.geom, r = this.current();
      if (!g || !r) return null;
      const box = this.scroller.getBoundingClientRect();
      const x = ev.clientX - box.left, y = ev.clientY - box.top;
      if (x < g.L || y < g.T) return null;
      const c = Math.floor((x - g.L + this.scroller.scrollLeft) / g.z);
      const k = Math.floor((y - g.T + this.scroller.scrollTop) / g.z);
      if (c >= g.ncols || k >= g.nrows) return null;
      return {c, k, pos: r.rows[k], x, y};
    }

    hover(ev) {
      const cell = this.cellAt(ev), r = this.current();
      if (!cell) { this.tip.style.display = 'none'; return; }
      const w = this.rowOf(r, cell.k);
      const v = this.valueAt(w, cell.c);
      const future = cell.c > this.colOfPos(cell.pos);
      const shown = future ? 'n/a (right of the diagonal)' : v === undefined ? (r.topK ? '0 or dropped (top-' + r.topK + ')' : '0') : fmt(v);
      this.tip.textContent = cell.pos + ' ' + this.x.label(cell.pos) + ' \u2190 ' +
          (this.words ? '' : cell.c + ' ') + this.colLabel(cell.c) + ': ' + shown;
      this.tip.dataset.row = cell.pos;
      this.tip.dataset.col = cell.c;
      this.tip.dataset.value = v === undefined ? '0' : fmt(v);
      this.tip.style.display = 'block';
      this.tip.style.left = Math.min(cell.x + 14, this.geom.W - 260) + 'px';
      this.tip.style.top = (cell.y + 14) + 'px';
    }

    drawInfo(r) {
      const info = this.info;
      info.innerHTML = '';
      if (!r) { info.textContent = this.x.error ? '' : 'waiting for results\u2026'; return; }
      const k = r.rows.indexOf(this.sel.pos);
      const parts = [];
      const p = this.sel.pos;
      if (r.targets.length && k >= 0 && r.targets[k] !== null && r.targets[k] !== undefined) {
        const id = r.targets[k];
        const j = this.x.ids.indexOf(id);  // the text of an id is known when it is in the input
        const t = (this.x.meta.targetText && this.x.meta.targetText[id]) || (j >= 0 ? this.x.tokens[j] : null);
        parts.push(['explains', 'the logit of token ' + id + (t ? ' (' + visible(t) + ')' : '') +
                    ' at position ' + p + (r.logits[k] !== null && r.logits[k] !== undefined ? ', logit ' + fmt(r.logits[k]) : '')]);
      } else {
        parts.push(['row', 'contributions into position ' + p + ' (' + this.x.label(p) + ') from each source position']);
      }
      const gapName = r.kind === 'scores' ? 'completeness gap' : 'approximation error';
      parts.push([gapName, Number.isFinite(r.approxError) ? fmt(r.approxError) : 'n/a (none defined for ' + r.method + ')']);
      if (Number.isFinite(r.keptMass)) parts.push(['kept |mass|', fmt(r.keptMass)]);
      if (r.topK) parts.push(['embedded', 'top ' + r.topK + ' entries per row (report size)']);
      parts.push(['layer', r.layer < 0 ? '-1 = whole model (aggregated over all layers)' : String(r.layer)]);
      for (const [key, val] of parts) {
        const s = info.appendChild(el('span', 'mx-kv'));
        s.appendChild(el('b', null, key + ': '));
        s.appendChild(document.createTextNode(val));
        s.dataset.key = key;
      }
    }

    // Tokens coloured in running text (like Captum's visualize_text): the selected row's source
    // relevance, scaled by the row's largest |value|.
    saliencyLine(container, r, k, limit) {
      const w = this.rowOf(r, k);
      const s = this.rowMax(w);
      const last = this.colOfPos(r.rows[k]);
      const texts = this.words ? this.x.words().text : null;
      const first = limit ? Math.max(0, last + 1 - limit) : 0;
      if (first > 0) container.appendChild(el('span', 'mx-more', '\u2026' + first + ' earlier '));
      for (let c = first; c <= last; ++c) {
        const v = this.valueAt(w, c);
        const raw = this.words ? texts[c] : (this.x.tokens[c] !== undefined && this.x.tokens[c] !== '' ? this.x.tokens[c] : this.x.label(c));
        const span = el('span', 'mx-tok', this.words ? raw : raw.replace(/\n/g, '\u23ce'));
        span.style.background = v === undefined ? '#fff' : color(v, s);
        span.dataset.col = c;
        span.dataset.value = v === undefined ? '0' : fmt(v);
        span.title = (this.words ? 'word ' : 'position ') + c + ' ' + this.colLabel(c) + ': ' + (v === undefined ? '0' : fmt(v));
        if (c === last) span.classList.add('mx-target');
        container.appendChild(span);
      }
    }

    drawText(r) {
      this.text.innerHTML = '';
      if (!r) return;
      const k = r.rows.indexOf(this.sel.pos);
      if (k < 0 || !r.entries[k]) return;
      this.text.dataset.method = r.method;
      this.text.dataset.layer = r.layer;
      this.text.dataset.row = this.sel.pos;
      this.saliencyLine(this.text, r, k, 0);
      this.text.scrollTop = this.text.scrollHeight;  // the target is the last token shown
    }

    drawCompare(cur) {
      this.compare.innerHTML = '';
      if (!cur) return;
      const x = this.x;
      for (const m of x.methods) {
        const mine = x.results.filter(q => q.method === m);
        if (!mine.length) continue;
        const r = mine.find(q => q.layer === cur.layer) || mine.find(q => q.layer < 0) ||
                  mine.reduce((a, b) => (b.layer > a.layer ? b : a));
        const line = this.compare.appendChild(el('div', 'mx-cmp'));
        line.dataset.method = m;
        const head = line.appendChild(el('span', 'mx-cmp-head', m + ' (' + (r.layer < 0 ? 'whole model' : 'layer ' + r.layer) + ')'));
        const k = r.rows.indexOf(this.sel.pos);
        if (k < 0 || !r.entries[k]) { line.appendChild(el('span', 'mx-more', 'row ' + this.sel.pos + ' not computed')); continue; }
        const w = this.rowOf(r, k);
        let best = -1, bv = 0;
        for (let i = 0; i < w.c.length; ++i) if (Math.abs(w.v[i]) > Math.abs(bv)) { bv = w.v[i]; best = w.c[i]; }
        head.title = 'largest |value|: ' + (best >= 0 ? this.colLabel(best) + ' ' + fmt(bv) : 'none');
        this.saliencyLine(line.appendChild(el('span', 'mx-cmp-text')), r, k, 80);
      }
    }

    drawResults(cur) {
      const t = this.table;
      t.innerHTML = '';
      const head = t.insertRow();
      for (const h of ['method', 'layer', 'kind', 'approx. error / completeness gap', 'kept |mass|', 'rows', 'state']) head.appendChild(el('th', null, h));
      for (const r of this.x.results) {
        const tr = t.insertRow();
        if (r === cur) tr.className = 'mx-cur';
        tr.dataset.method = r.method;
        tr.dataset.layer = r.layer;
        const cells = [r.method, r.layer < 0 ? '-1 (whole model)' : r.layer, r.kind === 'scores' ? 'token scores' : 'matrix',
                       Number.isFinite(r.approxError) ? fmt(r.approxError) : 'n/a',
                       Number.isFinite(r.keptMass) ? fmt(r.keptMass) : '', r.entries.filter(Boolean).length + (r.topK ? ' (top ' + r.topK + ')' : ''),
                       r.done ? 'done' : 'streaming'];
        for (const c of cells) tr.insertCell().textContent = String(c);
        tr.addEventListener('click', () => { this.sel.method = r.method; this.sel.layer = r.layer; this.picked = true; this.refresh(); });
      }
    }

    drawSummary() {
      const s = this.x.summary;
      this.summary.innerHTML = '';
      this.summaryHead.style.display = s ? '' : 'none';
      if (!s) return;
      for (const key of Object.keys(s)) {
        const tr = this.summary.insertRow();
        tr.insertCell().textContent = key;
        const v = s[key];
        tr.insertCell().textContent = typeof v === 'number' ? fmt(v) : typeof v === 'object' ? JSON.stringify(v) : String(v);
      }
    }

    // The selected row's text saliency as an SVG document: one coloured box per source token (or
    // word), wrapped at 1 000 px, with the method, layer and scale in a caption.
    rowSvg() {
      const r = this.current();
      const k = r ? r.rows.indexOf(this.sel.pos) : -1;
      if (k < 0) return '';
      const w = this.rowOf(r, k), s = this.rowMax(w), last = this.colOfPos(r.rows[k]);
      const esc = t => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
      const ctx = document.createElement('canvas').getContext('2d');
      ctx.font = '13px monospace';
      const parts = [];
      let x = 0, y = 24;
      for (let c = 0; c <= last; ++c) {
        const v = this.valueAt(w, c);
        const text = this.colLabel(c);
        const width = Math.ceil(ctx.measureText(text).width) + 4;
        if (x + width > 1000) { x = 0; y += 20; }
        parts.push('<rect x="' + x + '" y="' + (y - 13) + '" width="' + width + '" height="17" fill="' +
                   (v === undefined ? '#fff' : color(v, s)) + '"' + (c === last ? ' stroke="#000"' : '') + '/>' +
                   '<text x="' + (x + 2) + '" y="' + y + '">' + esc(text) + '</text>');
        x += width + 1;
      }
      const caption = r.method + ', layer ' + r.layer + ', row ' + this.sel.pos + ' (' + this.x.label(this.sel.pos) +
                      '); red +, blue -, scale \u00b1' + fmt(s);
      return '<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="' + (y + 16) +
             '" font-family="monospace" font-size="13"><text x="0" y="10" font-size="10">' + esc(caption) +
             '</text><g transform="translate(0,8)">' + parts.join('') + '</g></svg>';
    }

    download(content, type, ext) {
      const r = this.current();
      if (!r || !content) return;
      const a = document.createElement('a');
      a.download = r.method + '_layer' + r.layer + '_row' + this.sel.pos + ext;
      a.href = URL.createObjectURL(new Blob([content], {type}));
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    }

    // The whole heatmap (not only the visible part) at the current cell size, at most 8 192 px
    // a side, as a PNG download.
    exportPng() {
      const r = this.current();
      if (!r) return;
      const nr = r.rows.length, nc = this.ncols();
      const z = Math.max(1, Math.min(this.cell(), Math.floor(8192 / Math.max(nr, nc))));
      const cv = document.createElement('canvas');
      cv.width = nc * z;
      cv.height = nr * z;
      const ctx = cv.getContext('2d');
      ctx.fillStyle = NA;
      ctx.fillRect(0, 0, cv.width, cv.height);
      const scale = this.maxAbs(r);
      for (let k = 0; k < nr; ++k) {
        const w = this.rowOf(r, k);
        ctx.fillStyle = '#fff';
        ctx.fillRect(0, k * z, (this.colOfPos(r.rows[k]) + 1) * z, z);
        if (!w) continue;
        const s = this.rowScale ? this.rowMax(w) : scale;
        for (let i = 0; i < w.c.length; ++i) { ctx.fillStyle = color(w.v[i], s); ctx.fillRect(w.c[i] * z, k * z, z, z); }
      }
      const a = document.createElement('a');
      a.download = r.method + '_layer' + r.layer + '.png';
      a.href = cv.toDataURL('image/png');
      a.click();
    }
  }

  function clip(s, n) { return s.length > n ? s.slice(0, n - 1) + '\u2026' : s; }

  // A progress table for a stream in flight: one line per method, a cell per layer.
  function renderProgress(container, x) {
    container.innerHTML = '';
    const p = x.progress();
    let done = 0, total = 0;
    for (const m of p) {
      const line = container.appendChild(el('div', 'mx-prog'));
      line.dataset.method = m.method;
      line.appendChild(el('span', 'mx-prog-head', m.method));
      const layers = m.expected === 1 ? [-1] : x.layers;
      for (const l of layers) {
        const got = m.layers.find(q => q.layer === l);
        const c = line.appendChild(el('span', 'mx-prog-cell' + (got ? (got.done ? ' done' : ' part') : ''), l < 0 ? 'all' : String(l)));
        c.title = (l < 0 ? 'whole model' : 'layer ' + l) + (got ? (got.done ? ': done' : ': arriving') : ': waiting');
      }
      if (m.steps) {
        const s = line.appendChild(el('span', 'mx-steps', m.steps.done + '/' + m.steps.total));
        s.title = 'items computed (target rows \u00d7 IG steps or SmoothGrad samples)';
      } else if (m.expected === null) {
        line.appendChild(el('span', 'mx-more', 'waiting'));
      }
      total += 1;
      // A method still computing counts its steps (its result follows the last one).
      const stepped = m.steps && m.steps.total > 0 ? m.steps.done / m.steps.total : 0;
      done += m.expected ? m.done / m.expected : 0.99 * stepped;
    }
    return total ? done / total : 0;
  }

  global.MambaExplain = {Explanation, View, renderProgress, fmt, color};
})(typeof window !== 'undefined' ? window : globalThis);
