#include "client/html_report.h"

#include "absl/strings/str_replace.h"

namespace mamba_explain {
namespace {

constexpr char kHead[] = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>mamba-explain report</title>
<style>
body { font-family: sans-serif; margin: 16px; color: #222; background: #fff; }
h1 { font-size: 20px; margin: 0 0 8px 0; }
h2 { font-size: 16px; margin: 16px 0 6px 0; }
.controls label { margin-right: 14px; }
table.heat { border-collapse: collapse; font-size: 11px; }
table.heat td, table.heat th { border: 1px solid #ddd; padding: 0; min-width: 22px; height: 20px;
  text-align: center; }
table.heat th.col { writing-mode: vertical-rl; transform: rotate(180deg); padding: 2px;
  font-weight: normal; max-height: 120px; }
table.heat th.row { text-align: right; padding: 0 4px; font-weight: normal; white-space: nowrap; }
.bars div.bar { display: flex; align-items: center; font-size: 12px; margin: 1px 0; }
.bars span.lab { width: 140px; text-align: right; padding-right: 6px; white-space: nowrap;
  overflow: hidden; }
.bars span.fill { display: inline-block; height: 14px; }
table.summary td { padding: 2px 8px; font-size: 13px; }
</style></head><body>
<h1>mamba-explain: <span id="title"></span></h1>
<div class="controls">
<label>method <select id="method"></select></label>
<label>layer <select id="layer"></select></label>
<label>target row <select id="row"></select></label>
</div>
<h2>Token-to-token contributions (rows: targets, columns: sources)</h2>
<div id="heat"></div>
<h2>Relevance of each source token for the selected target</h2>
<div id="bars" class="bars"></div>
<h2>Summary</h2>
<table id="summary" class="summary"></table>
<script id="data" type="application/json">)HTML";

constexpr char kTail[] = R"HTML(</script>
<script>
(function () {
  const data = JSON.parse(document.getElementById('data').textContent);
  const tokens = data.tokens || [];
  // Matrices, and the per-target methods' "scores" rows (drawn the same way).
  const entries = (data.results || []).map(r => ({method: r.method, layer: r.layer,
      rows: r.rows, matrix: r.matrix || r.scores}));
  const $ = id => document.getElementById(id);
  const label = i => (i < tokens.length ? tokens[i] : '#' + i) + ' ' + i;
  $('title').textContent = (data.model || '') + ' (' + tokens.length + ' tokens)';
  const methods = [...new Set(entries.map(e => e.method))];
  for (const m of methods) $('method').add(new Option(m, m));
  function current() {
    const m = $('method').value, l = Number($('layer').value);
    return entries.find(e => e.method === m && e.layer === l);
  }
  function color(v, max) {
    const a = max > 0 ? Math.min(1, Math.abs(v) / max) : 0;
    return v >= 0 ? 'rgba(200,30,30,' + a.toFixed(3) + ')' : 'rgba(30,60,200,' + a.toFixed(3) + ')';
  }
  // Opens on the top layer and the last target row (the prediction furthest into the text); a
  // URL hash like #method=latim-l2&layer=1&row=5 (row = a position) picks another view.
  const want = new URLSearchParams(location.hash.slice(1));
  function fillLayers() {
    const m = $('method').value;
    $('layer').innerHTML = '';
    const mine = entries.filter(e => e.method === m);
    for (const e of mine) $('layer').add(new Option(String(e.layer), e.layer));
    const top = Math.max(...mine.map(e => e.layer));
    $('layer').value = want.has('layer') && mine.some(e => String(e.layer) === want.get('layer'))
        ? want.get('layer') : String(top);
    fillRows();
  }
  function fillRows() {
    const e = current();
    $('row').innerHTML = '';
    if (e) {
      e.rows.forEach((r, k) => $('row').add(new Option(label(r), k)));
      const k = want.has('row') ? e.rows.indexOf(Number(want.get('row'))) : -1;
      $('row').value = String(k >= 0 ? k : e.rows.length - 1);
    }
    draw();
  }
  function draw() {
    const e = current();
    const heat = $('heat'), bars = $('bars');
    heat.innerHTML = ''; bars.innerHTML = '';
    if (!e) return;
    let max = 0;
    for (const row of e.matrix) for (const v of row) max = Math.max(max, Math.abs(v));
    const table = document.createElement('table');
    table.className = 'heat';
    const head = table.insertRow();
    head.appendChild(document.createElement('th'));
    for (let j = 0; j < tokens.length; ++j) {
      const th = document.createElement('th');
      th.className = 'col'; th.textContent = label(j); head.appendChild(th);
    }
    e.rows.forEach((r, k) => {
      const tr = table.insertRow();
      const th = document.createElement('th');
      th.className = 'row'; th.textContent = label(r); tr.appendChild(th);
      e.matrix[k].forEach((v, j) => {
        const td = tr.insertCell();
        td.style.background = color(v, max);
        td.title = label(r) + ' <- ' + label(j) + ': ' + v.toPrecision(4);
      });
    });
    heat.appendChild(table);
    const k = Number($('row').value) || 0;
    const row = e.matrix[k] || [];
    let rmax = 0;
    for (const v of row) rmax = Math.max(rmax, Math.abs(v));
    row.forEach((v, j) => {
      const div = document.createElement('div'); div.className = 'bar';
      const lab = document.createElement('span'); lab.className = 'lab'; lab.textContent = label(j);
      const fill = document.createElement('span'); fill.className = 'fill';
      fill.style.width = (rmax > 0 ? 300 * Math.abs(v) / rmax : 0).toFixed(1) + 'px';
      fill.style.background = v >= 0 ? '#c81e1e' : '#1e3cc8';
      const val = document.createElement('span'); val.textContent = ' ' + v.toPrecision(3);
      div.append(lab, fill, val); bars.appendChild(div);
    });
  }
  const summary = data.summary || {};
  for (const key of Object.keys(summary)) {
    const tr = $('summary').insertRow();
    tr.insertCell().textContent = key;
    tr.insertCell().textContent = String(summary[key]);
  }
  if (want.has('method') && methods.includes(want.get('method'))) $('method').value = want.get('method');
  $('method').addEventListener('change', fillLayers);
  $('layer').addEventListener('change', fillRows);
  $('row').addEventListener('change', draw);
  fillLayers();
})();
</script>
</body></html>
)HTML";

}  // namespace

std::string RenderHtmlReport(const nlohmann::json& explanation) {
  // "</" inside the JSON would end the <script> element early.
  const std::string json = absl::StrReplaceAll(
      explanation.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), {{"</", "<\\/"}});
  return std::string(kHead) + json + kTail;
}

}  // namespace mamba_explain
