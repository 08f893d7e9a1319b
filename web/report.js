// The HTML report's entry point (client/html_report.cc inlines it after explain_view.js): reads
// the report document from <script id="mx-data"> and shows it with the shared views. The URL hash
// #method=M&layer=L&row=P&words=1 opens a given view (and follows the selection).
(function () {
  'use strict';
  const doc = JSON.parse(document.getElementById('mx-data').textContent);
  const x = MambaExplain.Explanation.fromReport(doc);
  document.getElementById('mx-title').textContent =
      (doc.model ? doc.model + ': ' : '') + x.tokens.length + ' tokens, ' + x.results.length +
      ' results';
  window.mxReport = {x, view: new MambaExplain.View(document.getElementById('mx-report'), x)};
})();
