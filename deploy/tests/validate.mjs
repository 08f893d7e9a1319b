// Checks of the rendered Kustomize overlays (run by validate.sh, not by hand):
//   node validate.mjs manifests OUT OVERLAY.yaml...   schema + policy checks; writes OUT/rules.yaml,
//                                                    OUT/alerts_test.yaml (annotations filled in)
//                                                    and OUT/refs.json (what the server must have)
//   node validate.mjs server OUT HELP.txt METRICS.txt the references against the live server
// Every object is validated against the Kubernetes (kubernetes-models) or prometheus-operator
// (@kubernetes-models/prometheus-operator) JSON schema; the policy checks are this project's
// deployment rules (restricted Pod Security, probes, drain timing, HPA wiring). Prints one line
// per check and 'N passed, N failed'; exits 1 on any failure.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
let passed = 0;
let failed = 0;
function check(name, cond, detail = "") {
  if (cond) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail ? ": " + detail : ""}`);
  }
}
function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

// apiVersion -> module of the model classes.
const modules = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

async function validateSchema(label, obj) {
  const mod = modules[obj.apiVersion];
  if (!mod) return check(`${label}: known apiVersion`, false, obj.apiVersion);
  const models = await import(mod);
  const Model = models[obj.kind];
  if (!Model) return check(`${label}: known kind`, false, `${obj.apiVersion} ${obj.kind}`);
  try {
    new Model(obj).validate();
    check(`${label}: ${obj.apiVersion} ${obj.kind} schema`, true);
  } catch (e) {
    check(`${label}: ${obj.apiVersion} ${obj.kind} schema`, false, e.message);
  }
}

function flagsOf(args) {
  const flags = {};
  for (const a of args) {
    const m = /^--([a-z_0-9]+)(?:=(.*))?$/.exec(a);
    if (m) flags[m[1]] = m[2] === undefined ? "true" : m[2];
    else flags[`?${a}`] = "";
  }
  return flags;
}

function metricNames(expr) {
  return [...expr.matchAll(/\b(?:mamba_explain|process_)[a-zA-Z0-9_:]*/g)].map((m) => m[0]);
}

async function manifests(out, files) {
  const refs = { flags: [], args: {}, ports: {}, probeServices: [], metrics: [], recorded: [] };
  let rules = null;
  for (const file of files) {
    const overlay = path.basename(file, ".yaml");
    const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8")).map((d) => d.toJS());
    const byKind = {};
    for (const o of docs) (byKind[o.kind] ??= []).push(o);
    for (const o of docs) await validateSchema(`${overlay}/${o.kind}/${o.metadata.name}`, o);
    const kinds = Object.keys(byKind).sort().join(",");
    const want = "ConfigMap,Deployment,HorizontalPodAutoscaler,NetworkPolicy,PersistentVolumeClaim," +
      "PodDisruptionBudget,PrometheusRule,Secret,Service,ServiceAccount,ServiceMonitor";
    check(`${overlay}: every object kind present`, kinds === want, kinds);

    const dep = byKind.Deployment[0];
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    const psc = pod.securityContext ?? {};
    const csc = c.securityContext ?? {};
    check(`${overlay}: restricted PSS runAsNonRoot`, psc.runAsNonRoot === true && psc.runAsUser > 0);
    check(`${overlay}: restricted PSS seccomp RuntimeDefault`, psc.seccompProfile?.type === "RuntimeDefault");
    check(`${overlay}: restricted PSS no privilege escalation`, csc.allowPrivilegeEscalation === false);
    check(`${overlay}: restricted PSS drops ALL capabilities`,
      JSON.stringify(csc.capabilities?.drop) === '["ALL"]' && !csc.capabilities?.add);
    check(`${overlay}: no privileged, host namespaces or hostPath`,
      !csc.privileged && !pod.hostNetwork && !pod.hostPID && !pod.hostIPC &&
      !(pod.volumes ?? []).some((v) => v.hostPath));
    check(`${overlay}: read-only root filesystem`, csc.readOnlyRootFilesystem === true);
    check(`${overlay}: no fixed replicas (HPA owns them)`, dep.spec.replicas === undefined);
    check(`${overlay}: image qualified and not :latest`,
      /^[a-z0-9.-]+\.[a-z]+(:\d+)?\/.+:[A-Za-z0-9._-]+$/.test(c.image) && !c.image.endsWith(":latest"), c.image);
    check(`${overlay}: resources requested, memory limited`,
      c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory);
    const flags = flagsOf(c.args);
    const gpu = overlay === "gpu";
    check(`${overlay}: device matches overlay`, flags.device === (gpu ? "cuda" : "cpu"), flags.device);
    if (gpu) {
      check("gpu: one GPU in limits", c.resources.limits["nvidia.com/gpu"] === 1);
      check("gpu: GPU toleration and nodeSelector",
        (pod.tolerations ?? []).some((t) => t.key === "nvidia.com/gpu") && pod.nodeSelector);
      check("gpu: NVIDIA_VISIBLE_DEVICES left to the device plugin",
        !(c.env ?? []).some((e) => e.name === "NVIDIA_VISIBLE_DEVICES"));
    } else {
      check("cpu: no GPU requested", !c.resources.limits["nvidia.com/gpu"]);
    }
    const ports = Object.fromEntries(c.ports.map((p) => [p.name, p.containerPort]));
    check(`${overlay}: --port is the grpc containerPort`, Number(flags.port) === ports.grpc);
    check(`${overlay}: --metrics_port is the metrics containerPort`, Number(flags.metrics_port) === ports.metrics);
    check(`${overlay}: --http_port is the http containerPort (HTTP gateway)`,
      ports.http > 0 && Number(flags.http_port) === ports.http, `${flags.http_port} vs ${ports.http}`);
    check(`${overlay}: HTTP gateway on every interface of the pod`,
      (flags.http_host ?? flags.host) === "0.0.0.0", flags.http_host ?? flags.host);
    check(`${overlay}: serves plaintext for the kubelet's gRPC probes`, flags.plaintext === "true");
    check(`${overlay}: readiness waits for every model`, flags.readiness === "all");
    for (const [kind, probe] of [["startup", c.startupProbe], ["readiness", c.readinessProbe], ["liveness", c.livenessProbe]]) {
      check(`${overlay}: ${kind} probe is gRPC on the grpc port`, probe?.grpc?.port === ports.grpc);
      if (probe?.grpc?.service) refs.probeServices.push(probe.grpc.service);
    }
    check(`${overlay}: no probe on the HTTP gateway (busy streams would fail it)`,
      [c.startupProbe, c.readinessProbe, c.livenessProbe].every((p) =>
        !p?.httpGet && p?.tcpSocket?.port !== ports.http && p?.tcpSocket?.port !== "http"));
    check(`${overlay}: readiness probe on mamba_explain.v1.Explainer`,
      c.readinessProbe.grpc.service === "mamba_explain.v1.Explainer");
    check(`${overlay}: liveness probe on the process ("")`, !c.livenessProbe.grpc.service);
    const preStop = Number(c.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
    const grace = pod.terminationGracePeriodSeconds;
    check(`${overlay}: grace ${grace}s >= preStop ${preStop}s + --drain_grace_s ${flags.drain_grace_s}s + 5s`,
      grace >= preStop + Number(flags.drain_grace_s) + 5);
    const vols = Object.fromEntries(pod.volumes.map((v) => [v.name, v]));
    const pvc = byKind.PersistentVolumeClaim[0].metadata.name;
    const secret = byKind.Secret[0].metadata.name;
    check(`${overlay}: PVC ${pvc} defined and mounted read-only`,
      vols.models?.persistentVolumeClaim?.claimName === pvc &&
      c.volumeMounts.some((m) => m.name === "models" && m.mountPath === flags.model_repository && m.readOnly));
    check(`${overlay}: Secret ${secret} defined and holds the tokens file`,
      vols.tokens?.secret?.secretName === secret && flags.auth_tokens_file === "/secrets/tokens" &&
      "tokens" in (byKind.Secret[0].stringData ?? byKind.Secret[0].data ?? {}));

    const svc = byKind.Service[0];
    check(`${overlay}: Service headless`, svc.spec.clusterIP === "None");
    check(`${overlay}: Service ports have appProtocol`, svc.spec.ports.every((p) => p.appProtocol));
    check(`${overlay}: Service grpc port h2c`,
      svc.spec.ports.some((p) => p.name === "grpc" && p.targetPort === "grpc" && p.appProtocol === "kubernetes.io/h2c"));
    check(`${overlay}: Service http port targets the gateway's containerPort`,
      svc.spec.ports.some((p) => p.name === "http" && p.targetPort === "http" && p.port === ports.http &&
        p.appProtocol === "http"));
    check(`${overlay}: every Service targetPort names a containerPort`,
      svc.spec.ports.every((p) => p.targetPort in ports), JSON.stringify(svc.spec.ports.map((p) => p.targetPort)));
    const podLabels = dep.spec.template.metadata.labels;
    const sel = (m) => Object.entries(m).every(([k, v]) => podLabels[k] === v);
    check(`${overlay}: Service, PDB, NetworkPolicy select the pods`,
      sel(svc.spec.selector) && sel(byKind.PodDisruptionBudget[0].spec.selector.matchLabels) &&
      sel(byKind.NetworkPolicy[0].spec.podSelector.matchLabels) && sel(dep.spec.selector.matchLabels));
    const np = byKind.NetworkPolicy[0];
    const npPorts = np.spec.ingress.flatMap((r) => r.ports.map((p) => p.port)).sort();
    check(`${overlay}: NetworkPolicy opens exactly the grpc, http and metrics ports`,
      JSON.stringify(npPorts) === JSON.stringify([ports.grpc, ports.http, ports.metrics].sort()), JSON.stringify(npPorts));
    const clientRule = np.spec.ingress.find((r) => r.from.some((f) => f.podSelector?.matchLabels?.["mamba-explain-client"] === "true"));
    const clientPorts = (clientRule?.ports ?? []).map((p) => p.port);
    check(`${overlay}: NetworkPolicy admits clients to gRPC and the HTTP gateway, not to /metrics`,
      clientPorts.includes(ports.grpc) && clientPorts.includes(ports.http) && !clientPorts.includes(ports.metrics),
      JSON.stringify(clientPorts));
    const sm = byKind.ServiceMonitor[0];
    check(`${overlay}: ServiceMonitor selects the Service's labels and its metrics port`,
      Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v) &&
      sm.spec.endpoints.every((e) => svc.spec.ports.some((p) => p.name === e.port)) &&
      sm.spec.endpoints[0].path === "/metrics");
    const hpa = byKind.HorizontalPodAutoscaler[0];
    check(`${overlay}: HPA targets the Deployment`,
      hpa.spec.scaleTargetRef.kind === "Deployment" && hpa.spec.scaleTargetRef.name === dep.metadata.name);
    check(`${overlay}: HPA minReplicas >= 2 (the PDB keeps one)`, hpa.spec.minReplicas >= 2);
    const adapter = YAML.parse(fs.readFileSync(path.join(repo, "deploy/prometheus-adapter/values.yaml"), "utf8"));
    const served = adapter.rules.custom.map((r) => r.name.as);
    for (const m of hpa.spec.metrics) {
      const name = m.pods?.metric?.name;
      check(`${overlay}: HPA metric ${name} served by the prometheus-adapter rule`, m.type === "Pods" && served.includes(name));
    }
    for (const r of adapter.rules.custom) refs.metrics.push(...metricNames(r.seriesQuery));
    const dash = JSON.parse(byKind.ConfigMap.find((m) => m.metadata.labels?.grafana_dashboard === "1")
      .data["mamba-explaind-dashboard.json"]);
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
    check(`${overlay}: dashboard has panels with queries`, exprs.length >= 10);
    for (const e of exprs) refs.metrics.push(...metricNames(e));
    for (const v of dash.templating.list) if (v.definition) refs.metrics.push(...metricNames(v.definition));

    refs.flags.push(...Object.keys(flags));
    refs.ports[overlay] = ports;
    refs.args[overlay] = c.args;
    rules = byKind.PrometheusRule[0].spec;
  }

  // Rules: every alert with a severity, a runbook and a runbook_url into docs/operations.md.
  const ops = fs.readFileSync(path.join(repo, "docs/operations.md"), "utf8");
  const anchors = new Set([...ops.matchAll(/^#+ (.*)$/gm)].map((m) =>
    m[1].trim().toLowerCase().replace(/[^a-z0-9 _-]/g, "").replace(/ /g, "-")));
  const alerts = rules.groups.flatMap((g) => g.rules.filter((r) => r.alert));
  for (const r of rules.groups.flatMap((g) => g.rules)) {
    refs.metrics.push(...metricNames(r.expr));
    if (r.record) refs.recorded.push(r.record);
  }
  for (const a of alerts) {
    const an = a.annotations ?? {};
    check(`alert ${a.alert}: severity page|warn`, ["page", "warn"].includes(a.labels?.severity));
    check(`alert ${a.alert}: summary, description, runbook`, an.summary && an.description && an.runbook);
    const anchor = (an.runbook_url ?? "").split("#")[1];
    check(`alert ${a.alert}: runbook_url section in docs/operations.md`,
      an.runbook_url?.startsWith("docs/operations.md#") && anchors.has(anchor), an.runbook_url);
    check(`alert ${a.alert}: annotations template only $labels`, !JSON.stringify(an).includes("$value"));
  }
  fs.writeFileSync(path.join(out, "rules.yaml"), YAML.stringify(rules));

  // promtool compares annotations too: fill them in from the rules, rendering {{ $labels.x }}.
  const tests = YAML.parse(fs.readFileSync(path.join(here, "alerts_test.yaml"), "utf8"));
  const byName = Object.fromEntries(alerts.map((a) => [a.alert, a]));
  const tested = new Set();
  for (const t of tests.tests) {
    for (const at of t.alert_rule_test ?? []) {
      tested.add(at.alertname);
      for (const e of at.exp_alerts ?? []) {
        e.exp_annotations = Object.fromEntries(Object.entries(byName[at.alertname].annotations).map(([k, v]) =>
          [k, v.replace(/\{\{ *\$labels\.([a-z_]+) *\}\}/g, (_, l) => e.exp_labels[l] ?? "")]));
      }
    }
  }
  for (const a of alerts) {
    const fires = tests.tests.some((t) => (t.alert_rule_test ?? []).some((x) => x.alertname === a.alert && x.exp_alerts?.length));
    const quiet = tests.tests.some((t) => (t.alert_rule_test ?? []).some((x) => x.alertname === a.alert && !x.exp_alerts?.length));
    check(`alert ${a.alert}: promtool test that fires and one that stays quiet`, fires && quiet);
  }
  fs.writeFileSync(path.join(out, "alerts_test.yaml"), YAML.stringify(tests));

  // The images' Dockerfiles: builder stage, pinned bases, non-root, health check, volume, labels.
  for (const [file, gpu] of [["Dockerfile", false], ["Dockerfile.gpu", true]]) {
    const df = fs.readFileSync(path.join(repo, file), "utf8");
    const bases = [...df.matchAll(/^ARG [A-Z_]*IMAGE=(\S+)$/gm)].map((m) => m[1]);
    check(`${file}: bases pinned (registry, full version tag)`, bases.length > 0 &&
      bases.every((b) => /^[a-z0-9.-]+\.[a-z]+\/[^:]+:[0-9][^:]*$/.test(b) || b.includes("@sha256:")), bases.join(" "));
    check(`${file}: builder stage compiles from source`, /AS build\b/.test(df) && /cmake --build/.test(df));
    check(`${file}: runs as uid 65534`, /^USER 65534(:65534)?$/m.test(df));
    check(`${file}: HEALTHCHECK with the client's health on the readiness service`,
      /HEALTHCHECK[\s\S]*mamba-explain", "health"[\s\S]*mamba_explain\.v1\.Explainer/.test(df));
    check(`${file}: /models volume, OCI labels, missing libraries fail the build`,
      /^VOLUME \["\/models"\]$/m.test(df) && /org\.opencontainers\.image\.revision/.test(df) && /ldd .*not found/.test(df));
    if (gpu) {
      check(`${file}: NVIDIA variables and sm_80/sm_90 + PTX`,
        /NVIDIA_VISIBLE_DEVICES/.test(df) && /NVIDIA_DRIVER_CAPABILITIES=compute,utility/.test(df) &&
        /CUDA_ARCHITECTURES="80-real;90-real;90-virtual"/.test(df));
    }
  }
  const ignore = fs.readFileSync(path.join(repo, ".dockerignore"), "utf8");
  check(".dockerignore starts from nothing (*) and admits the sources", /^\*$/m.test(ignore) && /^!src\/$/m.test(ignore));
  // Every COPY from the build context names something .dockerignore admits (after "*", only the
  // "!path" lines) and that exists: a source left out fails the image build at that step.
  const admitted = [...ignore.matchAll(/^!(\S+?)\/?$/gm)].map((m) => m[1]);
  for (const file of ["Dockerfile", "Dockerfile.gpu"]) {
    const df = fs.readFileSync(path.join(repo, file), "utf8");
    const sources = [...df.matchAll(/^COPY (?!.*--from=)(?:--\S+ )*(.+) \S+$/gm)]
      .flatMap((m) => m[1].split(/\s+/)).map((s) => s.replace(/^\.\//, "").replace(/\/$/, ""));
    const missing = sources.filter((s) => !admitted.some((a) => s === a || s.startsWith(a + "/")) ||
      !fs.existsSync(path.join(repo, s)));
    check(`${file}: every COPY source (${sources.length}) is in the build context (.dockerignore)`,
      sources.length > 0 && missing.length === 0, missing.join(" "));
  }
  refs.flags = [...new Set(refs.flags)].sort();
  refs.metrics = [...new Set(refs.metrics)].sort();
  refs.probeServices = [...new Set(refs.probeServices)].sort();
  fs.writeFileSync(path.join(out, "refs.json"), JSON.stringify(refs, null, 2));
  finish();
}

function server(out, helpFile, metricsFile) {
  const refs = JSON.parse(fs.readFileSync(path.join(out, "refs.json"), "utf8"));
  const help = fs.readFileSync(helpFile, "utf8");
  for (const f of refs.flags) {
    check(`flag --${f} in mamba-explaind --help`, !f.startsWith("?") && new RegExp(`--${f}\\b`).test(help));
  }
  // Families from # TYPE lines; a histogram h exposes h_bucket, h_sum, h_count.
  const text = fs.readFileSync(metricsFile, "utf8");
  const names = new Set();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]);
    if (m[2] === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(m[1] + s);
  }
  const recorded = new Set(refs.recorded);
  for (const n of refs.metrics) {
    if (n.includes(":")) check(`recording rule ${n} defined`, recorded.has(n));
    else check(`metric ${n} exported by the server (/metrics)`, names.has(n));
  }
  finish();
}

const [cmd, out, ...rest] = process.argv.slice(2);
if (cmd === "manifests") await manifests(out, rest);
else if (cmd === "server") server(out, ...rest);
else {
  console.error("usage: validate.mjs manifests OUT FILE.yaml... | server OUT HELP METRICS");
  process.exit(2);
}
