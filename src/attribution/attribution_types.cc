#include "attribution/attribution_types.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace mamba_explain {

absl::StatusOr<std::vector<int64_t>> ResolveRows(const RowSelection& selection, int64_t n,
                                                 int64_t seq) {
  std::vector<int64_t> rows;
  switch (selection.kind) {
    case RowSelection::Kind::kAll:
      for (int64_t t = 0; t < n; ++t) rows.push_back(t);
      break;
    case RowSelection::Kind::kLast:
      rows.push_back(n - 1);
      break;
    case RowSelection::Kind::kList:
      rows = selection.rows;
      std::sort(rows.begin(), rows.end());
      rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
      if (rows.empty()) return absl::InvalidArgumentError("empty row list");
      for (int64_t t : rows) {
        if (t < 0 || t >= n) {
          return absl::InvalidArgumentError(
              absl::StrCat("row ", t, " out of range for sequence ", seq, " of length ", n));
        }
      }
      break;
  }
  return rows;
}

}  // namespace mamba_explain
