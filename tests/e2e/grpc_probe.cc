// grpc_probe: a raw gRPC client for the reliability end-to-end tests
// (tests/e2e/reliability_test.sh). The real CLI is a well-behaved client; this one misbehaves on
// purpose: it opens an Explain stream and stops reading (slow reader), sends oversized client
// strings, or sends bytes that are not a protobuf. It prints one `key=value` line per outcome so a
// shell test can assert on it. Not a product binary; it only links the generated stubs.
//
//   grpc_probe stall   --server A --model M --ids N --stall_s S [--cancel] [--deadline_s D]
//                      [--method NAME] [--id_mod V]
//       Explain N token ids (1, 2, ... modulo V, default 90) densely, read the Header, print
//       "stalling", read nothing for S seconds, then cancel (--cancel) or read the rest; prints
//       messages/bytes and status.
//   grpc_probe echo    --server A [--model M] [--model_bytes N] [--request_id_bytes N]
//                      [--method_bytes N] [--lrp_bytes N] [--text_bytes N] [--ids N] [--last]
//                      [--token T]
//       One Explain with long client strings (or N bytes of text instead of ids, or many ids;
//       --last: the last row only); prints code, message length, the Header's size and, when a
//       long input's ids continue in InputTokens messages, their count, the ids received and the
//       largest message.
//   grpc_probe storm   --server A --model M --calls N --ids K [--method NAME] [--id_mod V]
//                      [--cancel_ms_max X] [--seed S]
//       N concurrent Explain calls of K ids; each is cancelled after a pseudo-random 0..X ms
//       (every third gets that as its deadline instead, every fifth is read to the end); prints
//       "calls=N ok=A cancelled=B deadline=C exhausted=E other=D".
//   grpc_probe raw     --server A --rpc /pkg.Service/Method --hex BYTES [--token T]
//       Sends BYTES (hex) as the request of a unary (or, for Explain, streaming) RPC.
//   grpc_probe models  --server A [--token T]
//       ListModels: one "model=NAME state=S error=E" line per model.
//   grpc_probe tokenize --server A --model M --text_bytes N [--token T]
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/sync_stream.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "mamba_explain/v1/explain.grpc.pb.h"

namespace v1 = mamba_explain::v1;

namespace {

std::map<std::string, std::string> ParseFlags(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) continue;
    a = a.substr(2);
    if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      flags[a] = argv[++i];
    } else {
      flags[a] = "1";
    }
  }
  return flags;
}

std::string Get(const std::map<std::string, std::string>& f, const std::string& k,
                const std::string& def = "") {
  auto it = f.find(k);
  return it == f.end() ? def : it->second;
}

long GetInt(const std::map<std::string, std::string>& f, const std::string& k, long def) {
  auto it = f.find(k);
  return it == f.end() ? def : std::atol(it->second.c_str());
}

void PrintStatus(const grpc::Status& s) {
  std::cout << "code=" << s.error_code() << " message_bytes=" << s.error_message().size()
            << std::endl;
  std::cout << "message=" << s.error_message().substr(0, 300) << std::endl;
}

void SetToken(const std::map<std::string, std::string>& f, grpc::ClientContext* ctx) {
  const std::string token = Get(f, "token");
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
}

int Stall(const std::map<std::string, std::string>& f, v1::Explainer::Stub* stub) {
  v1::ExplainRequest request;
  request.set_model(Get(f, "model", "deep"));
  const long n = GetInt(f, "ids", 512);
  const long mod = GetInt(f, "id_mod", 90);
  for (long i = 0; i < n; ++i) request.add_token_ids(static_cast<int32_t>(1 + i % (mod - 1)));
  request.add_methods(Get(f, "method", "synthetic-decay"));
  request.mutable_sparsity()->set_mode(v1::Sparsity::DENSE);
  grpc::ClientContext ctx;
  SetToken(f, &ctx);
  const long deadline_s = GetInt(f, "deadline_s", 0);
  if (deadline_s > 0) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(deadline_s));
  }
  auto reader = stub->Explain(&ctx, request);
  v1::ExplainResponse response;
  if (!reader->Read(&response) || !response.has_header()) {
    PrintStatus(reader->Finish());
    return 1;
  }
  std::cout << "stalling" << std::endl;
  std::this_thread::sleep_for(std::chrono::seconds(GetInt(f, "stall_s", 5)));
  if (Get(f, "cancel") == "1") {
    ctx.TryCancel();
    std::cout << "cancelled" << std::endl;
    PrintStatus(reader->Finish());
    return 0;
  }
  long messages = 1, bytes = 0;
  while (reader->Read(&response)) {
    ++messages;
    bytes += static_cast<long>(response.ByteSizeLong());
  }
  std::cout << "messages=" << messages << " bytes=" << bytes << std::endl;
  PrintStatus(reader->Finish());
  return 0;
}

int Echo(const std::map<std::string, std::string>& f, v1::Explainer::Stub* stub) {
  v1::ExplainRequest request;
  const long model_bytes = GetInt(f, "model_bytes", 0);
  request.set_model(model_bytes > 0 ? std::string(model_bytes, 'm') : Get(f, "model", "deep"));
  const long text_bytes = GetInt(f, "text_bytes", 0);
  const long ids = text_bytes > 0 ? 0 : GetInt(f, "ids", 2);
  if (text_bytes > 0) request.set_text(std::string(text_bytes, 'a'));
  for (long i = 0; i < ids; ++i) request.add_token_ids(static_cast<int32_t>(1 + i % 90));
  const long method_bytes = GetInt(f, "method_bytes", 0);
  request.add_methods(method_bytes > 0 ? std::string(method_bytes, 'x') : "synthetic-decay");
  const long lrp_bytes = GetInt(f, "lrp_bytes", 0);
  if (lrp_bytes > 0) request.mutable_parameters()->set_lrp_rules(std::string(lrp_bytes, 'r'));
  const long id_bytes = GetInt(f, "request_id_bytes", 0);
  if (id_bytes > 0) request.set_request_id(std::string(id_bytes, 'i'));
  if (f.count("last")) request.set_row_selection(v1::ROW_SELECTION_LAST);
  grpc::ClientContext ctx;
  SetToken(f, &ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = stub->Explain(&ctx, request);
  v1::ExplainResponse response;
  long input_messages = 0, ids_received = 0, max_bytes = 0;
  bool ids_match = true;
  while (reader->Read(&response)) {
    max_bytes = std::max(max_bytes, static_cast<long>(response.ByteSizeLong()));
    if (response.has_header()) {
      std::cout << "header_bytes=" << response.ByteSizeLong()
                << " request_id_bytes=" << response.header().request_id().size() << std::endl;
      for (int32_t id : response.header().token_ids()) {
        ids_match = ids_match && ids_received < ids && id == request.token_ids(ids_received);
        ++ids_received;
      }
    }
    if (response.has_input_tokens()) {
      ++input_messages;
      ids_match = ids_match && response.input_tokens().offset() == ids_received;
      for (int32_t id : response.input_tokens().token_ids()) {
        ids_match = ids_match && ids_received < ids && id == request.token_ids(ids_received);
        ++ids_received;
      }
    }
  }
  if (input_messages > 0) {
    std::cout << "input_tokens_messages=" << input_messages << " ids_received=" << ids_received
              << " ids_match=" << (ids_match ? 1 : 0) << " max_message_bytes=" << max_bytes
              << std::endl;
  }
  PrintStatus(reader->Finish());
  return 0;
}

int Storm(const std::map<std::string, std::string>& f, v1::Explainer::Stub* stub) {
  const long calls = GetInt(f, "calls", 20);
  const long n = GetInt(f, "ids", 16);
  const long mod = GetInt(f, "id_mod", 90);
  const long cancel_max = std::max(1L, GetInt(f, "cancel_ms_max", 200));
  uint64_t state = static_cast<uint64_t>(GetInt(f, "seed", 1)) * 6364136223846793005ULL + 1;
  std::atomic<long> ok{0}, cancelled{0}, deadline{0}, exhausted{0}, other{0};
  std::vector<std::thread> threads;
  for (long c = 0; c < calls; ++c) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const long delay_ms = static_cast<long>((state >> 33) % static_cast<uint64_t>(cancel_max));
    threads.emplace_back([&, c, delay_ms] {
      v1::ExplainRequest request;
      request.set_model(Get(f, "model", "deep"));
      for (long i = 0; i < n; ++i)
        request.add_token_ids(static_cast<int32_t>(1 + (i + c) % (mod - 1)));
      request.add_methods(Get(f, "method", "synthetic-decay"));
      grpc::ClientContext ctx;
      SetToken(f, &ctx);
      const bool by_deadline = c % 3 == 1;
      const bool read_all = c % 5 == 4;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(by_deadline ? delay_ms : 60000));
      auto reader = stub->Explain(&ctx, request);
      v1::ExplainResponse response;
      if (read_all) {
        while (reader->Read(&response)) {
        }
      } else if (!by_deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        ctx.TryCancel();
        while (reader->Read(&response)) {
        }
      } else {
        while (reader->Read(&response)) {
        }
      }
      const grpc::Status s = reader->Finish();
      switch (s.error_code()) {
        case grpc::StatusCode::OK:
          ++ok;
          break;
        case grpc::StatusCode::CANCELLED:
          ++cancelled;
          break;
        case grpc::StatusCode::DEADLINE_EXCEEDED:
          ++deadline;
          break;
        case grpc::StatusCode::RESOURCE_EXHAUSTED:
          ++exhausted;
          break;  // queue full
        default:
          ++other;
          std::cerr << "storm call " << c << ": " << s.error_code() << " "
                    << s.error_message().substr(0, 200) << "\n";
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::cout << "calls=" << calls << " ok=" << ok << " cancelled=" << cancelled
            << " deadline=" << deadline << " exhausted=" << exhausted << " other=" << other
            << std::endl;
  return 0;
}

int Models(const std::map<std::string, std::string>& f, v1::Explainer::Stub* stub) {
  grpc::ClientContext ctx;
  SetToken(f, &ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ListModelsResponse response;
  const grpc::Status status = stub->ListModels(&ctx, v1::ListModelsRequest(), &response);
  for (const v1::ModelInfo& m : response.models()) {
    std::cout << "model=" << m.name() << " state=" << v1::ModelInfo::State_Name(m.state())
              << " error=" << m.error() << std::endl;
  }
  PrintStatus(status);
  return 0;
}

int Tokenize(const std::map<std::string, std::string>& f, v1::Explainer::Stub* stub) {
  grpc::ClientContext ctx;
  SetToken(f, &ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::TokenizeRequest request;
  request.set_model(Get(f, "model", "deep"));
  request.set_text(std::string(GetInt(f, "text_bytes", 10), 'a'));
  v1::TokenizeResponse response;
  PrintStatus(stub->Tokenize(&ctx, request, &response));
  return 0;
}

bool FromHex(const std::string& hex, std::string* out) {
  if (hex.size() % 2) return false;
  for (size_t i = 0; i < hex.size(); i += 2) {
    out->push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return true;
}

int Raw(const std::map<std::string, std::string>& f, std::shared_ptr<grpc::Channel> channel) {
  std::string bytes;
  if (!FromHex(Get(f, "hex"), &bytes)) {
    std::cerr << "--hex: even number of hex digits\n";
    return 2;
  }
  const std::string rpc = Get(f, "rpc", "/mamba_explain.v1.Explainer/Tokenize");
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ClientContext ctx;
  SetToken(f, &ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  const bool streaming = rpc.find("/Explain") != std::string::npos;
  grpc::internal::RpcMethod method(rpc.c_str(), streaming
                                                    ? grpc::internal::RpcMethod::SERVER_STREAMING
                                                    : grpc::internal::RpcMethod::NORMAL_RPC);
  if (streaming) {
    std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
        grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(channel.get(), method, &ctx,
                                                                      request));
    grpc::ByteBuffer response;
    while (reader->Read(&response)) {
    }
    PrintStatus(reader->Finish());
    return 0;
  }
  grpc::ByteBuffer response;
  PrintStatus(grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(), method, &ctx, request, &response));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: grpc_probe stall|echo|storm|raw|models|tokenize --server HOST:PORT ...\n";
    return 2;
  }
  const std::string command = argv[1];
  const auto flags = ParseFlags(argc, argv);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  // The default client refuses trailers over 16 KiB; the echo test needs to see what the server
  // sent, so it keeps the default: a too-long status message shows as the wrong code.
  auto channel = grpc::CreateCustomChannel(Get(flags, "server", "127.0.0.1:50051"),
                                           grpc::InsecureChannelCredentials(), args);
  auto stub = v1::Explainer::NewStub(channel);
  if (command == "stall") return Stall(flags, stub.get());
  if (command == "echo") return Echo(flags, stub.get());
  if (command == "storm") return Storm(flags, stub.get());
  if (command == "raw") return Raw(flags, channel);
  if (command == "models") return Models(flags, stub.get());
  if (command == "tokenize") return Tokenize(flags, stub.get());
  std::cerr << "unknown command " << command << "\n";
  return 2;
}
