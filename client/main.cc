// mamba-explain: command-line client. Offline commands load a model in-process; remote commands
// (explain, models, tokenize, health with --server) talk to mamba-explaind over gRPC and are
// compiled in only when the build has gRPC (ME_WITH_GRPC_CLIENT).
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/methods_command.h"
#include "client/offline_commands.h"
#include "client/usage.h"
#ifdef ME_WITH_GRPC_CLIENT
#include "client/perf_command.h"
#include "client/remote_commands.h"
#endif

namespace {

bool HasServerFlag(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--server" || a.rfind("--server=", 0) == 0) return true;
  }
  return false;
}

bool HasHelpFlag(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help") {
    std::cout << mamba_explain::Usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (HasHelpFlag(args) && !mamba_explain::CommandUsage(command).empty()) {
    std::cout << mamba_explain::CommandUsage(command);
    return 0;
  }
  absl::Status status;
  const bool remote = HasServerFlag(args) || command == "models" || command == "health";
  if (remote) {
#ifdef ME_WITH_GRPC_CLIENT
    if (command == "explain") {
      status = mamba_explain::RunRemoteExplain(args);
    } else if (command == "models") {
      status = mamba_explain::RunRemoteModels(args);
    } else if (command == "tokenize") {
      status = mamba_explain::RunRemoteTokenize(args);
    } else if (command == "health") {
      status = mamba_explain::RunRemoteHealth(args);
    } else if (command == "perf") {
      status = mamba_explain::RunRemotePerf(args);
    } else {
      std::cerr << "mamba-explain: command '" << command << "' has no remote form\n";
      return 2;
    }
#else
    std::cerr << "mamba-explain: this build has no gRPC; remote commands are unavailable\n";
    return 2;
#endif
  } else if (command == "methods") {
    status = mamba_explain::RunMethods(args);
  } else if (command == "tokenize") {
    status = mamba_explain::RunTokenize(args);
  } else if (command == "forward") {
    status = mamba_explain::RunForward(args);
  } else if (command == "explain") {
    status = mamba_explain::RunExplain(args);
  } else {
    std::cerr << "mamba-explain: unknown command '" << command << "'\n" << mamba_explain::Usage();
    return 2;
  }
  if (!status.ok()) {
    std::cerr << "mamba-explain " << command << ": " << status << "\n";
    return 1;
  }
  return 0;
}
