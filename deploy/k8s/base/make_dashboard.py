# Writes deploy/k8s/base/grafana-dashboard.json (run from the repository root). The queries use
# only metric names the server exports; CI checks them against a live /metrics scrape.
import json
ds = {"type": "prometheus", "uid": "${datasource}"}
panels = []
y = 0
def panel(title, exprs, unit="short", w=12, kind="timeseries", desc=""):
    global y
    pid = len(panels) + 1
    x = 0 if (len(panels) % 2 == 0 or w == 24) else 12
    p = {"id": pid, "type": kind, "title": title, "description": desc, "datasource": ds,
         "gridPos": {"h": 8, "w": w, "x": x, "y": y},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
         "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
         "targets": [{"datasource": ds, "refId": chr(65 + i), "expr": e, "legendFormat": l}
                     for i, (e, l) in enumerate(exprs)]}
    panels.append(p)
    if w == 24 or x == 12:
        y += 8
sel = 'namespace="$namespace", model=~"$model"'
panel("Explain requests by code", [(f'sum by (code) (rate(mamba_explain_requests_total{{namespace="$namespace", model=~"$model", method="Explain"}}[5m]))', "{{code}}")], "reqps",
      desc="RPCs finished per second by gRPC status code (label method = the gRPC method)")
panel("Server errors and overload rejections", [
    ('sum(rate(mamba_explain_requests_total{namespace="$namespace", code=~"UNKNOWN|INTERNAL|UNAVAILABLE|DATA_LOSS|UNIMPLEMENTED|FAILED_PRECONDITION|ABORTED"}[5m])) / clamp_min(sum(rate(mamba_explain_requests_total{namespace="$namespace"}[5m])), 1e-9)', "server errors"),
    ('sum(rate(mamba_explain_requests_total{namespace="$namespace", method="Explain", code=~"RESOURCE_EXHAUSTED|DEADLINE_EXCEEDED"}[5m])) / clamp_min(sum(rate(mamba_explain_requests_total{namespace="$namespace", method="Explain"}[5m])), 1e-9)', "overload")],
    "percentunit", desc="The ratios behind MambaExplainHighErrorRate and MambaExplainOverloaded (5% pages)")
panel("Queue depth per pod (HPA metric)", [(f'sum by (pod) (mamba_explain_pending_requests{{namespace="$namespace"}})', "{{pod}}")], "short",
      desc="mamba_explain_pending_requests summed per pod: what the HPA averages (target 4)")
panel("Open Explain streams per pod", [('sum by (pod) (mamba_explain_inflight_streams{namespace="$namespace"})', "{{pod}}")])
panel("Batches computing per pod", [(f'sum by (pod) (mamba_explain_running_batches{{{sel}}})', "{{pod}}")], "short",
      desc="mamba_explain_running_batches: 1 per model worker while a batch computes (a cancelled request's batch counts until its next result); busy with an empty queue means no backlog")
for q in ("0.5", "0.95", "0.99"):
    pass
panel("Request latency (admission to end of stream)", [
    (f'histogram_quantile({q}, sum by (le) (rate(mamba_explain_request_duration_seconds_bucket{{{sel}}}[5m])))', f"p{int(float(q)*100)}") for q in ("0.5", "0.95", "0.99")], "s")
panel("Queue wait", [
    (f'histogram_quantile({q}, sum by (le) (rate(mamba_explain_queue_duration_seconds_bucket{{{sel}}}[5m])))', f"p{int(float(q)*100)}") for q in ("0.5", "0.95")], "s",
    desc="MambaExplainSlowQueue warns at p95 > 2 s")
panel("Batch compute time", [
    (f'histogram_quantile({q}, sum by (le) (rate(mamba_explain_compute_duration_seconds_bucket{{{sel}}}[5m])))', f"p{int(float(q)*100)}") for q in ("0.5", "0.95")], "s")
panel("Batch size (mean requests per batch)", [
    (f'sum(rate(mamba_explain_batch_size_sum{{{sel}}}[5m])) / clamp_min(sum(rate(mamba_explain_batch_size_count{{{sel}}}[5m])), 1e-9)', "mean"),
    (f'sum(rate(mamba_explain_executions_total{{{sel}}}[5m]))', "batches/s")], "short",
    desc="Tune --max_batch_size / --max_queue_delay_ms with this")
panel("Tokens per second", [(f'sum by (model) (rate(mamba_explain_tokens_processed_total{{{sel}}}[5m]))', "{{model}}")], "short")
panel("Stream output", [
    ('sum(rate(mamba_explain_stream_bytes_total{namespace="$namespace"}[5m]))', "bytes/s"),
    (f'sum(rate(mamba_explain_layer_results_total{{{sel}}}[5m]))', "layer results/s")], "Bps")
panel("Models ready (replicas)", [(f'sum by (model) (mamba_explain_model_ready{{{sel}}})', "{{model}}")], "short")
panel("GPU memory per pod", [('max by (pod, state) (mamba_explain_gpu_memory_bytes{namespace="$namespace"})', "{{pod}} {{state}}")], "bytes")
panel("Resident memory per pod", [
    ('max by (pod) (process_resident_memory_bytes{namespace="$namespace", job="mamba-explaind"})', "{{pod}} RSS"),
], "bytes", desc="process_resident_memory_bytes of each server process")
panel("Versions running", [('count by (version, device) (mamba_explain_build_info{namespace="$namespace"})', "{{version}} {{device}}")], "short",
      desc="mamba_explain_build_info: replicas per build (rollouts)")
dash = {
  "title": "mamba-explain", "uid": "mamba-explain", "tags": ["mamba-explain"], "timezone": "utc",
  "schemaVersion": 39, "version": 1, "editable": True, "refresh": "30s",
  "time": {"from": "now-3h", "to": "now"},
  "description": "mamba-explaind serving: traffic, errors, queue (HPA), latency, batching, throughput, models, GPU memory. Metric names: src/serving/metrics.cc.",
  "templating": {"list": [
    {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
    {"name": "namespace", "type": "query", "datasource": ds, "label": "namespace",
     "query": {"query": "label_values(mamba_explain_model_ready, namespace)", "refId": "ns"},
     "definition": "label_values(mamba_explain_model_ready, namespace)", "refresh": 2},
    {"name": "model", "type": "query", "datasource": ds, "label": "model", "multi": True, "includeAll": True,
     "allValue": ".*",
     "query": {"query": 'label_values(mamba_explain_model_ready{namespace="$namespace"}, model)', "refId": "model"},
     "definition": 'label_values(mamba_explain_model_ready{namespace="$namespace"}, model)', "refresh": 2}]},
  "annotations": {"list": []},
  "panels": panels,
}
json.dump(dash, open("deploy/k8s/base/grafana-dashboard.json", "w"), indent=2)
open("deploy/k8s/base/grafana-dashboard.json", "a").write("\n")
