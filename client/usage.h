// The help texts of the mamba-explain CLI: the whole usage, and one command's part of it for
// `mamba-explain COMMAND --help`. The flags they list are client_flags.cc's table.
#ifndef MAMBA_EXPLAIN_CLIENT_USAGE_H_
#define MAMBA_EXPLAIN_CLIENT_USAGE_H_

#include <string>

namespace mamba_explain {

// Every command, then the method list.
std::string Usage();
// `command`'s usage (both modes where it has both), then the method list for explain; empty
// for an unknown command.
std::string CommandUsage(const std::string& command);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_USAGE_H_
