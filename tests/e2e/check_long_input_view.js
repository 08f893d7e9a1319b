// tests/e2e/long_input_test.sh: the console's view module (web/explain_view.js, the code that
// turns Explain events into an Explanation) fed the NDJSON events of a long input must end with
// every id and token string of the input and the results complete.
// usage: node check_long_input_view.js EXPLAIN_VIEW.js EVENTS.ndjson IDS.txt
'use strict';
const fs = require('fs');
const vm = require('vm');

const [viewPath, eventsPath, idsPath] = process.argv.slice(2);
vm.runInThisContext(fs.readFileSync(viewPath, 'utf8'), {filename: viewPath});
const ids = fs.readFileSync(idsPath, 'utf8').split(/\s+/).filter(Boolean).map(Number);
const x = new globalThis.MambaExplain.Explanation();
let events = 0;
for (const line of fs.readFileSync(eventsPath, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  x.addEvent(JSON.parse(line));
  ++events;
}
const fail = msg => { console.error('FAIL ' + msg); process.exit(1); };
if (x.error) fail('error: ' + JSON.stringify(x.error));
if (x.ids.length !== ids.length) fail(`ids: ${x.ids.length} of ${ids.length}`);
for (let i = 0; i < ids.length; ++i) if (x.ids[i] !== ids[i]) fail(`id ${i}: ${x.ids[i]} != ${ids[i]}`);
if (x.tokens.length !== ids.length) fail(`tokens: ${x.tokens.length} of ${ids.length}`);
if (x.results.length === 0 || !x.results.every(r => r.done && r.entries[0].c.length === 8)) {
  fail('results: ' + x.results.map(r => `${r.method}/${r.layer} done=${r.done}`).join(', '));
}
console.log(`view: ${events} events, ${x.ids.length} ids, ${x.results.length} results`);
