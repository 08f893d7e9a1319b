#include "client/array_export.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#ifdef ME_HAVE_LIBZIP
#include <zip.h>
#endif

namespace mamba_explain {
namespace {

template <typename T>
void Append(std::string* bytes, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
  bytes->append(b, sizeof(T));
}

// UTF-8 -> UTF-32 code points; invalid bytes become U+FFFD (byte-level BPE tokens may hold half
// a character).
std::vector<uint32_t> Utf32(const std::string& s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const unsigned char d = s[i + k];
      ok = (d >> 6) == 2;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (!ok) {
      out.push_back(0xfffd);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

NamedArray Strings(const std::string& name, const std::vector<std::string>& values,
                   bool scalar) {
  std::vector<std::vector<uint32_t>> cps;
  size_t width = 1;
  for (const std::string& v : values) {
    cps.push_back(Utf32(v));
    width = std::max(width, cps.back().size());
  }
  NamedArray a;
  a.name = name;
  a.kind = 'U';
  a.width = static_cast<int>(width);
  if (!scalar) a.shape = {static_cast<int64_t>(values.size())};
  for (const auto& v : cps) {
    for (size_t k = 0; k < width; ++k) Append<uint32_t>(&a.bytes, k < v.size() ? v[k] : 0);
  }
  return a;
}

NamedArray Ints(const std::string& name, const nlohmann::json& values) {
  NamedArray a;
  a.name = name;
  a.kind = 'i';
  a.shape = {static_cast<int64_t>(values.size())};
  for (const auto& v : values) Append<int32_t>(&a.bytes, v.get<int32_t>());
  return a;
}

NamedArray Floats(const std::string& name, const nlohmann::json& values) {
  NamedArray a;
  a.name = name;
  a.kind = 'f';
  a.shape = {static_cast<int64_t>(values.size())};
  for (const auto& v : values) Append<float>(&a.bytes, v.is_number() ? v.get<float>() : NAN);
  return a;
}

// Rows of floats (a JSON array of arrays of `columns` numbers) as a dense [R, columns] array, or
// as CSR (data, indices, indptr) of its non-zero entries.
absl::Status Matrix(const std::string& prefix, const std::string& what, const nlohmann::json& rows,
                    int64_t columns, bool sparse, std::vector<NamedArray>* arrays) {
  auto array = [](std::string name, char kind, std::vector<int64_t> shape) {
    NamedArray a;
    a.name = std::move(name);
    a.kind = kind;
    a.shape = std::move(shape);
    return a;
  };
  NamedArray dense =
      array(absl::StrCat(prefix, ".", what), 'f', {static_cast<int64_t>(rows.size()), columns});
  NamedArray data = array(absl::StrCat(prefix, ".data"), 'f', {0});
  NamedArray indices = array(absl::StrCat(prefix, ".indices"), 'i', {0});
  NamedArray indptr =
      array(absl::StrCat(prefix, ".indptr"), 'i', {static_cast<int64_t>(rows.size()) + 1});
  int32_t nnz = 0;
  Append<int32_t>(&indptr.bytes, 0);
  for (const nlohmann::json& row : rows) {
    if (!row.is_array() || static_cast<int64_t>(row.size()) != columns) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, ".", what, ": a row does not have ", columns, " columns"));
    }
    for (int64_t c = 0; c < columns; ++c) {
      const float v = row[c].is_number() ? row[c].get<float>() : NAN;
      if (!sparse) {
        Append<float>(&dense.bytes, v);
      } else if (v != 0.f) {
        Append<float>(&data.bytes, v);
        Append<int32_t>(&indices.bytes, static_cast<int32_t>(c));
        ++nnz;
      }
    }
    Append<int32_t>(&indptr.bytes, nnz);
  }
  if (!sparse) {
    arrays->push_back(std::move(dense));
    return absl::OkStatus();
  }
  data.shape = {nnz};
  indices.shape = {nnz};
  arrays->push_back(std::move(data));
  arrays->push_back(std::move(indices));
  arrays->push_back(std::move(indptr));
  return absl::OkStatus();
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

// Writes `bytes` to `path` through `path`.tmp and a rename.
absl::Status WriteWhole(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return absl::FailedPreconditionError(absl::StrCat("cannot write '", tmp, "'"));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) return absl::DataLossError(absl::StrCat("writing '", tmp, "' failed"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::DataLossError(absl::StrCat("cannot rename '", tmp, "' to '", path, "'"));
  }
  return absl::OkStatus();
}

absl::Status WriteNpz(const std::string& path, const std::vector<NamedArray>& arrays) {
#ifdef ME_HAVE_LIBZIP
  const std::string tmp = path + ".tmp";
  std::remove(tmp.c_str());
  int error = 0;
  zip_t* zip = zip_open(tmp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (zip == nullptr) {
    zip_error_t e;
    zip_error_init_with_code(&e, error);
    const std::string why = zip_error_strerror(&e);
    zip_error_fini(&e);
    return absl::FailedPreconditionError(absl::StrCat("cannot write '", tmp, "': ", why));
  }
  // libzip reads the buffers at zip_close, so they live until then.
  std::vector<std::string> buffers;
  buffers.reserve(arrays.size());
  for (const NamedArray& a : arrays) {
    buffers.push_back(NpyBytes(a));
    zip_source_t* source = zip_source_buffer(zip, buffers.back().data(), buffers.back().size(), 0);
    zip_int64_t index =
        source == nullptr
            ? -1
            : zip_file_add(zip, absl::StrCat(a.name, ".npy").c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0 || zip_set_file_compression(zip, index, ZIP_CM_STORE, 0) != 0) {
      const std::string why = zip_strerror(zip);
      if (source != nullptr && index < 0) zip_source_free(source);
      zip_discard(zip);
      return absl::InternalError(absl::StrCat("npz entry '", a.name, "': ", why));
    }
  }
  if (zip_close(zip) != 0) {
    const std::string why = zip_strerror(zip);
    zip_discard(zip);
    return absl::DataLossError(absl::StrCat("writing '", tmp, "' failed: ", why));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::DataLossError(absl::StrCat("cannot rename '", tmp, "' to '", path, "'"));
  }
  return absl::OkStatus();
#else
  (void)path;
  (void)arrays;
  return absl::UnimplementedError(
      "--format npz needs libzip, which this build lacks (apt install libzip-dev, rebuild); "
      "--format safetensors works without it");
#endif
}

}  // namespace

bool HaveNpz() {
#ifdef ME_HAVE_LIBZIP
  return true;
#else
  return false;
#endif
}

std::string NpyBytes(const NamedArray& a) {
  const std::string descr = a.kind == 'f'   ? "<f4"
                            : a.kind == 'i' ? "<i4"
                                            : absl::StrCat("<U", std::max(1, a.width));
  std::string header = absl::StrCat("{'descr': '", descr, "', 'fortran_order': False, 'shape': ",
                                    ShapeText(a.shape), ", }");
  // Magic (6) + version (2) + length (2) + header, padded with spaces and ended by '\n' to a
  // multiple of 64 bytes (the npy format's alignment).
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  Append<uint16_t>(&out, static_cast<uint16_t>(header.size()));
  out += header;
  out += a.bytes;
  return out;
}

std::string SafetensorsBytes(const std::vector<NamedArray>& arrays,
                             const std::vector<std::pair<std::string, std::string>>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [key, value] : metadata) meta[key] = value;
  header["__metadata__"] = meta;
  size_t offset = 0;
  for (const NamedArray& a : arrays) {
    header[a.name] = {{"dtype", a.kind == 'i' ? "I32" : "F32"},
                      {"shape", a.shape},
                      {"data_offsets", {offset, offset + a.bytes.size()}}};
    offset += a.bytes.size();
  }
  std::string text = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out;
  Append<uint64_t>(&out, text.size());
  out += text;
  for (const NamedArray& a : arrays) out += a.bytes;
  return out;
}

absl::StatusOr<ExportedExplanation> ExportExplanation(const nlohmann::json& out, bool sparse) {
  if (!out.contains("ids") || !out["ids"].is_array()) {
    return absl::InvalidArgumentError("the explanation has no ids");
  }
  ExportedExplanation e;
  const int64_t n = static_cast<int64_t>(out["ids"].size());
  e.arrays.push_back(Ints("ids", out["ids"]));
  if (out.contains("tokens")) e.tokens = out["tokens"].get<std::vector<std::string>>();
  e.info = out;
  e.info.erase("ids");
  e.info.erase("tokens");
  std::set<std::string> prefixes;
  if (out.contains("results")) {
    for (size_t i = 0; i < out["results"].size(); ++i) {
      const nlohmann::json& r = out["results"][i];
      const int layer = r.value("layer", -1);
      std::string prefix = absl::StrCat(r.value("method", "result"),
                                        layer < 0 ? ".model" : absl::StrCat(".layer", layer));
      if (!prefixes.insert(prefix).second) prefix = absl::StrCat(prefix, ".", i);
      const bool scores = r.contains("scores");
      absl::Status s = Matrix(prefix, scores ? "scores" : "matrix", r[scores ? "scores" : "matrix"],
                              n, sparse && !scores, &e.arrays);
      if (!s.ok()) return s;
      if (r.contains("rows")) e.arrays.push_back(Ints(prefix + ".rows", r["rows"]));
      if (r.contains("targets") && !r["targets"].empty()) {
        e.arrays.push_back(Ints(prefix + ".targets", r["targets"]));
      }
      if (r.contains("explained_logit")) {
        e.arrays.push_back(Floats(prefix + ".explained_logit", r["explained_logit"]));
      }
      nlohmann::json& info = e.info["results"][i];
      for (const char* key : {"matrix", "scores", "rows", "targets", "explained_logit"}) {
        info.erase(key);
      }
      info["prefix"] = prefix;
      info["encoding"] = scores ? "scores" : (sparse ? "csr" : "dense");
    }
  }
  return e;
}

absl::Status WriteExplanationArrays(const std::string& path, const nlohmann::json& out,
                                    ArrayFormat format, bool sparse) {
  absl::StatusOr<ExportedExplanation> e = ExportExplanation(out, sparse);
  if (!e.ok()) return e.status();
  const std::string info =
      e->info.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (format == ArrayFormat::kSafetensors) {
    const std::string tokens =
        nlohmann::json(e->tokens).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return WriteWhole(path, SafetensorsBytes(e->arrays, {{"format", "mamba-explain"},
                                                         {"tokens", tokens},
                                                         {"info", info}}));
  }
  std::vector<NamedArray> arrays = std::move(e->arrays);
  arrays.push_back(Strings("tokens", e->tokens, false));
  arrays.push_back(Strings("info", {info}, true));
  return WriteNpz(path, arrays);
}

}  // namespace mamba_explain
