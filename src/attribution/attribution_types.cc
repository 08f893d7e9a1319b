#include "attribution/attribution_types.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace mamba_explain {

absl::Status CheckRowSelection(const RowSelection& selection, int64_t n) {
  if (selection.kind != RowSelection::Kind::kList) return absl::OkStatus();
  if (selection.rows.empty()) return absl::InvalidArgumentError("target_rows is empty");
  for (size_t i = 0; i < selection.rows.size(); ++i) {
    const int64_t t = selection.rows[i];
    if (t < 0 || t >= n) {
      return absl::InvalidArgumentError(
          absl::StrCat("target_rows[", i, "]=", t, " not in [0, ", n, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> ResolveRows(const RowSelection& selection, int64_t n,
                                                 int64_t seq) {
  const absl::Status valid = CheckRowSelection(selection, n);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(valid.message(), " (sequence ", seq, ")"));
  }
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
      break;
  }
  return rows;
}

}  // namespace mamba_explain
