// mamba-explaind: the gRPC server. Reads flags once into option structs (flags live only here),
// loads every model of --model_repository, starts the Explainer service with health, reflection,
// Prometheus /metrics, TLS/mTLS and bearer-token auth, and with --http_port the HTTP/JSON gateway
// and console (server/http_gateway.h, a client of the same service through the in-process
// channel), then waits for SIGTERM/SIGINT and drains:
// health NOT_SERVING, new Explain calls UNAVAILABLE, running streams finish within
// --drain_grace_s, then Shutdown.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>
#include <signal.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/cpu_blas.h"
#include "common/file_io.h"
#ifdef ME_HAVE_CIVETWEB
#include "server/civetweb_start_error.h"
#endif
#include "server/explain_service.h"
#ifdef ME_WITH_HTTP
#include "server/http_gateway.h"
#endif
#include "server/process_metrics.h"
#ifdef ME_WITH_HTTP
#include "server/metrics_http.h"
#endif
#ifdef ME_WITH_ENGINE_BACKEND
#include "serving/engine_backend.h"
#endif
#include "serving/model_registry.h"
#include "serving/synthetic_backend.h"

ABSL_FLAG(std::string, model_repository, "",
          "Directory of models: <repo>/<name>/config.json, model.safetensors[.index.json], "
          "tokenizer.json. Every model loads and warms up at start; failures are reported and "
          "skipped.");
ABSL_FLAG(std::string, host, "0.0.0.0", "Address to listen on for gRPC.");
ABSL_FLAG(int, port, 50051, "gRPC port; 0 picks a free port (printed on stderr).");
ABSL_FLAG(int, http_port, -1,
          "Port of the HTTP/JSON gateway and the live console (docs/api.md): the Explainer "
          "methods as JSON, Explain streamed as Server-Sent Events or NDJSON, the console at /. "
          "Same TLS, token auth, validation and limits as gRPC. 0 picks a free port (printed), "
          "-1 (default) disables it.");
ABSL_FLAG(std::string, http_host, "", "Address of the HTTP gateway; empty: the --host of gRPC.");
ABSL_FLAG(int, http_threads, 16,
          "Connections the HTTP gateway serves at once (an Explain stream holds one while it "
          "runs).");
ABSL_FLAG(std::string, http_cors_origins, "",
          "Web origins other than the gateway's own whose pages may call the HTTP API "
          "(CORS: preflight OPTIONS answered, Access-Control-Allow-Origin on responses), comma "
          "separated, each http(s)://host[:port] as browsers send it; * allows any. Default: "
          "none (the console at / is same-origin and needs none).");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1",
          "Address of the Prometheus endpoint. Loopback by default: /metrics is unauthenticated. "
          "In Kubernetes pass the pod IP (env POD_IP from status.podIP: "
          "--metrics_address=$(POD_IP)) so only the pod network can scrape it.");
ABSL_FLAG(int, metrics_port, 8002,
          "Port of the Prometheus text endpoint /metrics; 0 picks a free port (printed), "
          "-1 disables it.");
ABSL_FLAG(bool, metrics_required, false,
          "Exit when the /metrics endpoint cannot start. By default the server logs the error, "
          "reports metrics_port=-1 and keeps serving gRPC without metrics.");
ABSL_FLAG(int, metrics_threads, 8,
          "Worker threads of the /metrics server; an idle or half-open connection holds one "
          "until --metrics_request_timeout_ms.");
ABSL_FLAG(int, metrics_request_timeout_ms, 2000,
          "How long the /metrics server waits for a connection's request before closing it.");
ABSL_FLAG(std::string, backend, "engine",
          "engine: the LibTorch engine; synthetic: deterministic matrices from the config and "
          "ids only, for transport testing and load tests.");
ABSL_FLAG(int, synthetic_layer_delay_ms, 0, "synthetic backend: sleep per layer (ms).");
ABSL_FLAG(std::string, device, "cpu", "Engine device: cpu, cuda or cuda:N.");
ABSL_FLAG(std::string, precision, "fp32", "Engine precision the models load in: fp32 or bf16.");
ABSL_FLAG(int64_t, memory_budget_mib, 256,
          "Engine: LaTIM row/channel block budget per batch (MiB) unless a request sets "
          "parameters.memory_budget_mib (at most --max_memory_budget_mib).");
ABSL_FLAG(int, max_memory_budget_mib, 4096, "Largest parameters.memory_budget_mib accepted.");
ABSL_FLAG(int64_t, memory_limit_mib, 0,
          "Memory one request may use, from the engine's estimate made before any work: requests "
          "over it fail alone with RESOURCE_EXHAUSTED before queueing. 0 = 90% of the device "
          "less the weights; -1 = no limit.");
ABSL_FLAG(int, max_batch_size, 8, "Most requests in one batch.");
ABSL_FLAG(int64_t, max_batch_tokens, 16384,
          "Most padded tokens (batch size x longest sequence) in one batch; a batch this budget "
          "fills leaves at once, without waiting out --max_queue_delay_ms.");
ABSL_FLAG(int, max_queue_delay_ms, 5,
          "How long the oldest queued request may wait for a fuller batch.");
ABSL_FLAG(int, max_queue, 64, "Queued requests per model; beyond: RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, max_tokens, 2048, "Longest sequence accepted; beyond: RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_matrix_rows, 65536,
          "Most matrix rows per request (target rows x layers, summed over the methods; "
          "whole-model methods count once); beyond: RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_gradient_rows, 65536,
          "Most backward passes per request (target rows x the passes of each output-dependent "
          "method: parameters.ig_steps, parameters.smoothgrad_samples or 1, as the method "
          "catalogue's cost model says; summed); beyond: RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_matrix_cells, int64_t{1} << 28,
          "Most matrix cells per request: target row t fills t + 1 columns, x layers for "
          "per-layer methods, summed over the methods (a long input costs more); beyond: "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_gradient_tokens, int64_t{1} << 22,
          "Most tokens through backward passes per request: a pass for target row t carries "
          "t + 1 positions, x the passes per row (as --max_gradient_rows), summed; beyond: "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(bool, plaintext, false,
          "Serve without TLS. Required when no --tls_cert/--tls_key are given.");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain of the server.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of the server.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; when set, clients must present a certificate it signed (mTLS).");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "File of bearer tokens, one per line; when set, Explainer RPCs need "
          "'authorization: Bearer <token>' (health and reflection stay open; per-model health "
          "services are then not published, so that health reveals no model names).");
ABSL_FLAG(bool, reflection, true, "Serve gRPC server reflection.");
ABSL_FLAG(int, keepalive_time_s, 60, "Server keepalive ping interval (s).");
ABSL_FLAG(int, keepalive_timeout_s, 20, "Keepalive ping ack timeout (s).");
ABSL_FLAG(int, min_client_ping_interval_s, 10,
          "Least interval between client pings the server tolerates (s); clients must ping "
          "less often.");
ABSL_FLAG(int, max_receive_message_bytes, 4 << 20, "Largest request message accepted.");
ABSL_FLAG(int, max_send_message_bytes, 4 << 20,
          "Largest response message (results are split into <= 1 MiB messages).");
ABSL_FLAG(std::string, readiness, "any",
          "When health service mamba_explain.v1.Explainer (the readiness probe) is SERVING: "
          "any: at least one model of the repository is ready; all: every model is ready (a "
          "model that fails to load keeps the replica unready, so a bad rollout stops).");
ABSL_FLAG(int, drain_grace_s, 25,
          "On SIGTERM: how long running streams may take before they are cancelled.");
ABSL_FLAG(int, stop_grace_s, 3,
          "After --drain_grace_s: how long cancelled computations may take to reach a "
          "cancellation point before the process exits without waiting for them.");
ABSL_FLAG(int64_t, max_stream_buffer_bytes, 4 << 20,
          "Unsent response bytes one Explain stream may hold; beyond, the model's worker waits "
          "for the client to read (backpressure).");
ABSL_FLAG(int, stream_stall_timeout_s, 30,
          "How long the model's worker waits for a client that reads nothing while its stream "
          "buffer is full; then that stream is cancelled.");
ABSL_FLAG(int64_t, max_text_bytes, 256 << 10,
          "Longest text accepted by Explain and Tokenize (checked before tokenizing); beyond: "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(bool, follow_external_symlinks, false,
          "Load models whose directory or files are symlinks to places outside "
          "--model_repository (refused by default).");

namespace mamba_explain {
namespace {

constexpr char kServiceName[] = "mamba_explain.v1.Explainer";

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials() {
  const std::string cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  const std::string ca = absl::GetFlag(FLAGS_tls_client_ca);
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (cert.empty()) {
    if (!ca.empty()) return absl::InvalidArgumentError("--tls_client_ca needs --tls_cert");
    if (!absl::GetFlag(FLAGS_plaintext)) {
      return absl::InvalidArgumentError(
          "no TLS configured: give --tls_cert and --tls_key, or --plaintext to serve without "
          "TLS");
    }
    return grpc::InsecureServerCredentials();
  }
  if (absl::GetFlag(FLAGS_plaintext)) {
    return absl::InvalidArgumentError("--plaintext contradicts --tls_cert");
  }
  grpc::SslServerCredentialsOptions options(
      ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                 : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  auto key_pem = ReadFile(key);
  if (!key_pem.ok()) return key_pem.status();
  auto cert_pem = ReadFile(cert);
  if (!cert_pem.ok()) return cert_pem.status();
  pair.private_key = *key_pem;
  pair.cert_chain = *cert_pem;
  options.pem_key_cert_pairs.push_back(pair);
  if (!ca.empty()) {
    auto ca_pem = ReadFile(ca);
    if (!ca_pem.ok()) return ca_pem.status();
    options.pem_root_certs = *ca_pem;
  }
  return grpc::SslServerCredentials(options);
}

// Every numeric flag in its range, so that a typo fails at start with the flag named instead of
// wrapping (--port 99999 would listen on 34463) or starting a server whose models all fail.
absl::Status ValidateFlags() {
  struct Range {
    const char* name;
    int64_t value, min, max;
  };
  const Range ranges[] = {
      {"port", absl::GetFlag(FLAGS_port), 0, 65535},
      {"metrics_port", absl::GetFlag(FLAGS_metrics_port), -1, 65535},
      {"http_port", absl::GetFlag(FLAGS_http_port), -1, 65535},
      {"http_threads", absl::GetFlag(FLAGS_http_threads), 1, 1024},
      {"metrics_threads", absl::GetFlag(FLAGS_metrics_threads), 1, 1024},
      {"metrics_request_timeout_ms", absl::GetFlag(FLAGS_metrics_request_timeout_ms), 1, 600000},
      {"max_batch_size", absl::GetFlag(FLAGS_max_batch_size), 1, 1 << 20},
      {"max_batch_tokens", absl::GetFlag(FLAGS_max_batch_tokens), 1, int64_t{1} << 40},
      {"max_queue_delay_ms", absl::GetFlag(FLAGS_max_queue_delay_ms), 0, 600000},
      {"max_queue", absl::GetFlag(FLAGS_max_queue), 1, 1 << 20},
      {"max_tokens", absl::GetFlag(FLAGS_max_tokens), 1, 1 << 24},
      {"max_matrix_rows", absl::GetFlag(FLAGS_max_matrix_rows), 1, int64_t{1} << 40},
      {"max_gradient_rows", absl::GetFlag(FLAGS_max_gradient_rows), 1, int64_t{1} << 40},
      {"max_matrix_cells", absl::GetFlag(FLAGS_max_matrix_cells), 1, int64_t{1} << 50},
      {"max_gradient_tokens", absl::GetFlag(FLAGS_max_gradient_tokens), 1, int64_t{1} << 50},
      {"memory_budget_mib", absl::GetFlag(FLAGS_memory_budget_mib), 1, 1 << 20},
      {"max_memory_budget_mib", absl::GetFlag(FLAGS_max_memory_budget_mib), 1, 1 << 20},
      {"memory_limit_mib", absl::GetFlag(FLAGS_memory_limit_mib), -1, int64_t{1} << 30},
      {"max_receive_message_bytes", absl::GetFlag(FLAGS_max_receive_message_bytes), 1024,
       INT32_MAX},
      {"max_send_message_bytes", absl::GetFlag(FLAGS_max_send_message_bytes), 1 << 20, INT32_MAX},
      {"drain_grace_s", absl::GetFlag(FLAGS_drain_grace_s), 0, 86400},
      {"stop_grace_s", absl::GetFlag(FLAGS_stop_grace_s), 0, 86400},
      {"max_stream_buffer_bytes", absl::GetFlag(FLAGS_max_stream_buffer_bytes), 1,
       int64_t{1} << 40},
      {"stream_stall_timeout_s", absl::GetFlag(FLAGS_stream_stall_timeout_s), 1, 86400},
      {"max_text_bytes", absl::GetFlag(FLAGS_max_text_bytes), 1, int64_t{1} << 30},
      {"synthetic_layer_delay_ms", absl::GetFlag(FLAGS_synthetic_layer_delay_ms), 0, 600000},
  };
  for (const Range& r : ranges) {
    if (r.value < r.min || r.value > r.max) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", r.name, "=", r.value, " not in [", r.min, ", ", r.max, "]"));
    }
  }
#ifdef ME_WITH_HTTP
  if (auto cors = CorsPolicy::Parse(absl::GetFlag(FLAGS_http_cors_origins)); !cors.ok()) {
    return cors.status();
  }
#endif
  return absl::OkStatus();
}

int Serve() {
  // Block the stop signals in every thread; main waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const std::string readiness = absl::GetFlag(FLAGS_readiness);
  if (readiness != "any" && readiness != "all") {
    std::cerr << "mamba-explaind: --readiness=" << readiness << " is not any or all\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_model_repository).empty()) {
    std::cerr << "mamba-explaind: --model_repository is required (see --help)\n";
    return 2;
  }
  if (absl::Status flags = ValidateFlags(); !flags.ok()) {
    std::cerr << "mamba-explaind: " << flags.message() << "\n";
    return 2;
  }
  auto credentials = MakeCredentials();
  if (!credentials.ok()) {
    std::cerr << "mamba-explaind: " << credentials.status() << "\n";
    return 2;
  }
  std::unique_ptr<TokenAuthenticator> authenticator;
  if (!absl::GetFlag(FLAGS_auth_tokens_file).empty()) {
    auto auth = TokenAuthenticator::FromFile(absl::GetFlag(FLAGS_auth_tokens_file));
    if (!auth.ok()) {
      std::cerr << "mamba-explaind: " << auth.status() << "\n";
      return 2;
    }
    authenticator = *std::move(auth);
  }

  ServingMetrics metrics;
  const std::string backend = absl::GetFlag(FLAGS_backend);
  // Declared before the metrics server, which holds it weakly.
  auto process_metrics =
      std::make_shared<ProcessMetrics>(ME_VERSION, backend, absl::GetFlag(FLAGS_device));
#ifdef ME_WITH_HTTP
  // cpp-httplib serves /metrics where the build has it: Debian's civetweb (prometheus-cpp's
  // Exposer) starts its workers with 100 KiB stacks, which glibc refuses once LibTorch CUDA's
  // static TLS is larger ("Cannot create first worker thread" on the GPU host; metrics_http.h).
  std::unique_ptr<MetricsHttpServer> metrics_http;
#endif
  int metrics_port = -1;
#ifdef ME_WITH_HTTP
  if (absl::GetFlag(FLAGS_metrics_port) >= 0) {
    MetricsHttpOptions metrics_options;
    metrics_options.host = absl::GetFlag(FLAGS_metrics_address);
    metrics_options.port = absl::GetFlag(FLAGS_metrics_port);
    metrics_options.threads = absl::GetFlag(FLAGS_metrics_threads);
    metrics_options.read_timeout =
        absl::Milliseconds(absl::GetFlag(FLAGS_metrics_request_timeout_ms));
    auto started = MetricsHttpServer::Start(metrics_options);
    if (started.ok()) {
      metrics_http = *std::move(started);
      metrics_http->RegisterCollectable(metrics.registry());
      metrics_http->RegisterCollectable(process_metrics);
      metrics_port = metrics_http->port();
    } else {
      std::cerr << "mamba-explaind: ERROR: cannot serve metrics on "
                << absl::GetFlag(FLAGS_metrics_address) << ":" << absl::GetFlag(FLAGS_metrics_port)
                << ": " << started.status().message() << "\n";
      if (absl::GetFlag(FLAGS_metrics_required)) return 1;
      std::cerr << "mamba-explaind: serving gRPC WITHOUT metrics (--metrics_required exits "
                   "instead)\n";
    }
  }
#else
  std::unique_ptr<prometheus::Exposer> exposer;
  // civetweb gives each connection a worker thread until its request arrives; with few threads
  // and the default 30 s request timeout, two idle connections stall every scrape.
  const std::vector<std::string> exposer_options = {
      "listening_ports",
      absl::StrCat(absl::GetFlag(FLAGS_metrics_address), ":", absl::GetFlag(FLAGS_metrics_port)),
      "num_threads",
      absl::StrCat(absl::GetFlag(FLAGS_metrics_threads)),
      "request_timeout_ms",
      absl::StrCat(absl::GetFlag(FLAGS_metrics_request_timeout_ms))};
  if (absl::GetFlag(FLAGS_metrics_port) >= 0) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(exposer_options);
      exposer->RegisterCollectable(metrics.registry());
      exposer->RegisterCollectable(process_metrics);
      metrics_port = exposer->GetListeningPorts().front();
    } catch (const std::exception& e) {
      std::cerr << "mamba-explaind: ERROR: cannot serve metrics on "
                << absl::GetFlag(FLAGS_metrics_address) << ":" << absl::GetFlag(FLAGS_metrics_port)
                << ": " << e.what() << "\n";
#ifdef ME_HAVE_CIVETWEB
      // CivetServer drops civetweb's reason; starting civetweb directly with the same options
      // names it (tools/metrics_probe runs the same check outside the server).
      const std::string reason = CivetwebStartError(exposer_options);
      std::cerr << "mamba-explaind: civetweb alone with the same options: "
                << (reason.empty() ? std::string("starts") : reason) << "\n";
#endif
      if (absl::GetFlag(FLAGS_metrics_required)) return 1;
      std::cerr << "mamba-explaind: serving gRPC WITHOUT metrics (--metrics_required exits "
                   "instead)\n";
      exposer.reset();
      metrics_port = -1;
    }
  }
#endif

  RegistryOptions registry_options;
  registry_options.repository = absl::GetFlag(FLAGS_model_repository);
  registry_options.follow_external_symlinks = absl::GetFlag(FLAGS_follow_external_symlinks);
  if (backend == "synthetic") {
    SyntheticBackendOptions options;
    options.layer_delay_ms = absl::GetFlag(FLAGS_synthetic_layer_delay_ms);
    registry_options.factory = [options](const std::string&, const std::string& dir) {
      return SyntheticBackend::Create(dir, options);
    };
#ifdef ME_WITH_ENGINE_BACKEND
  } else if (backend == "engine") {
    EngineBackendOptions options;
    options.device = absl::GetFlag(FLAGS_device);
    const std::string blas_warning = ReferenceBlasWarningForDevice(options.device);
    if (!blas_warning.empty()) std::cerr << "mamba-explaind: " << blas_warning << std::endl;
    options.precision = absl::GetFlag(FLAGS_precision);
    options.memory_budget_mib = absl::GetFlag(FLAGS_memory_budget_mib);
    options.memory_limit_mib = absl::GetFlag(FLAGS_memory_limit_mib);
    registry_options.factory = [options](const std::string&, const std::string& dir) {
      return CreateEngineBackend(dir, options);
    };
#endif
  } else {
    std::cerr << "mamba-explaind: --backend=" << backend << " is not engine or synthetic\n";
    return 2;
  }
  registry_options.batcher.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  registry_options.batcher.max_batch_tokens = absl::GetFlag(FLAGS_max_batch_tokens);
  registry_options.batcher.max_queue_delay =
      absl::Milliseconds(absl::GetFlag(FLAGS_max_queue_delay_ms));
  registry_options.batcher.max_queue = absl::GetFlag(FLAGS_max_queue);
  auto registry = ModelRegistry::Create(registry_options, &metrics);
  if (!registry.ok()) {
    std::cerr << "mamba-explaind: " << registry.status() << "\n";
    return 1;
  }

  ServiceOptions service_options;
  service_options.limits.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  service_options.limits.max_matrix_rows = absl::GetFlag(FLAGS_max_matrix_rows);
  service_options.limits.max_gradient_rows = absl::GetFlag(FLAGS_max_gradient_rows);
  service_options.limits.max_matrix_cells = absl::GetFlag(FLAGS_max_matrix_cells);
  service_options.limits.max_gradient_tokens = absl::GetFlag(FLAGS_max_gradient_tokens);
  service_options.limits.max_memory_budget_mib = absl::GetFlag(FLAGS_max_memory_budget_mib);
  service_options.max_stream_buffer_bytes =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_stream_buffer_bytes));
  service_options.stream_stall_timeout = absl::Seconds(absl::GetFlag(FLAGS_stream_stall_timeout_s));
  service_options.max_text_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_text_bytes));
  ExplainService service(service_options, registry->get(), &metrics, authenticator.get());

  grpc::EnableDefaultHealthCheckService(true);
  if (absl::GetFlag(FLAGS_reflection)) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  const std::string address =
      absl::StrCat(absl::GetFlag(FLAGS_host), ":", absl::GetFlag(FLAGS_port));
  builder.AddListeningPort(address, *credentials, &grpc_port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_receive_message_bytes));
  builder.SetMaxSendMessageSize(absl::GetFlag(FLAGS_max_send_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             absl::GetFlag(FLAGS_keepalive_time_s) * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             absl::GetFlag(FLAGS_keepalive_timeout_s) * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             absl::GetFlag(FLAGS_min_client_ping_interval_s) * 1000);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || grpc_port == 0) {
    std::cerr << "mamba-explaind: cannot listen on " << address << "\n";
    return 1;
  }

  // The HTTP gateway calls the service through the in-process channel: the same handlers, auth,
  // validation and limits as a gRPC client, without a second TLS hop.
#ifdef ME_WITH_HTTP
  std::unique_ptr<HttpGateway> gateway;
#endif
  int http_port = -1;
  if (absl::GetFlag(FLAGS_http_port) >= 0) {
#ifndef ME_WITH_HTTP
    std::cerr << "mamba-explaind: --http_port: this build has no HTTP gateway (build with "
                 "Debian's libcpp-httplib-dev)\n";
    return 2;
#else
    HttpGatewayOptions http;
    http.host = absl::GetFlag(FLAGS_http_host).empty() ? absl::GetFlag(FLAGS_host)
                                                       : absl::GetFlag(FLAGS_http_host);
    http.port = absl::GetFlag(FLAGS_http_port);
    http.tls_cert = absl::GetFlag(FLAGS_tls_cert);
    http.tls_key = absl::GetFlag(FLAGS_tls_key);
    http.tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
    http.threads = absl::GetFlag(FLAGS_http_threads);
    http.max_body_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_receive_message_bytes));
    http.max_buffered_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_stream_buffer_bytes));
    http.cors = *CorsPolicy::Parse(absl::GetFlag(FLAGS_http_cors_origins));  // ValidateFlags
    grpc::ChannelArguments channel_args;
    channel_args.SetMaxReceiveMessageSize(-1);  // the server's own send limit applies
    channel_args.SetMaxSendMessageSize(-1);     // and its receive limit
    auto started = HttpGateway::Start(http, server->InProcessChannel(channel_args));
    if (!started.ok()) {
      std::cerr << "mamba-explaind: cannot serve HTTP (--http_port): " << started.status().message()
                << "\n";
      return 1;
    }
    gateway = *std::move(started);
    http_port = gateway->port();
#endif
  }

  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  bool any_ready = false;
  bool all_ready = true;
  for (const auto& entry : (*registry)->entries()) {
    const bool ready = entry->state == ModelState::kReady;
    any_ready |= ready;
    all_ready &= ready;
    // Health is unauthenticated; with tokens, per-model services would list the model names.
    if (!authenticator) {
      health->SetServingStatus(absl::StrCat(kServiceName, "/", entry->name), ready);
    }
  }
  health->SetServingStatus(kServiceName, readiness == "all" ? any_ready && all_ready : any_ready);
  health->SetServingStatus("", true);
  std::cerr << "mamba-explaind: grpc_port=" << grpc_port << " metrics_port=" << metrics_port
            << " http_port=" << http_port << " ("
            << (absl::GetFlag(FLAGS_plaintext) ? "plaintext" : "TLS")
            << (absl::GetFlag(FLAGS_tls_client_ca).empty() ? "" : ", mTLS")
            << (authenticator ? ", bearer tokens" : "") << ")" << std::endl;

  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::cerr << "mamba-explaind: signal " << signal << ", draining" << std::endl;
  service.StartDraining();
  health->Shutdown();  // every service NOT_SERVING, frozen
  const absl::Time deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_drain_grace_s));
  while (service.inflight_streams() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  // Shutdown cancels what is still running, but then waits for every call to finish, and a
  // call finishes only when its computation reaches a cancellation point; one without (a long
  // gradient method) could hold the exit far beyond the grace Kubernetes gives. So both run on a
  // helper thread that main waits for only --stop_grace_s.
  absl::Notification stopped;
  std::thread stopper([&] {
    server->Shutdown(absl::ToChronoTime(deadline));
#ifdef ME_WITH_HTTP
    if (gateway) gateway->Stop();  // its streams ended with their (now cancelled) gRPC calls
#endif
    (*registry)->StopAll();
    stopped.Notify();
  });
  if (!stopped.WaitForNotificationWithTimeout(absl::Seconds(absl::GetFlag(FLAGS_stop_grace_s)))) {
    std::cerr << "mamba-explaind: stopped (a computation still running after --stop_grace_s "
                 "was abandoned)"
              << std::endl;
    std::_Exit(0);
  }
  stopper.join();
  std::cerr << "mamba-explaind: stopped" << std::endl;
  return 0;
}

}  // namespace
}  // namespace mamba_explain

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "mamba-explaind --model_repository=DIR [--port=50051] [--metrics_port=8002] "
      "[--http_port=-1] "
      "(--plaintext | --tls_cert=F --tls_key=F [--tls_client_ca=F]) [--auth_tokens_file=F] "
      "...\nServes the mamba_explain.v1.Explainer gRPC service (see proto/).");
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "server/main.cc");
  };
  absl::SetFlagsUsageConfig(usage_config);
  absl::ParseCommandLine(argc, argv);
  return mamba_explain::Serve();
}
