#include "eval/heatmap_png.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace mamba_explain {
namespace {

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t n = 0; n < 256; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}

void PutBigEndian32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

// Length, type, data, CRC over type + data (PNG spec §5.3).
void PutChunk(std::string& out, const char type[4], const std::string& data) {
  PutBigEndian32(out, static_cast<uint32_t>(data.size()));
  const size_t type_at = out.size();
  out.append(type, 4);
  out.append(data);
  PutBigEndian32(
      out, Crc32(reinterpret_cast<const uint8_t*>(out.data() + type_at), out.size() - type_at));
}

// RFC 1950 zlib stream of stored RFC 1951 blocks (≤ 65535 bytes each).
std::string ZlibStored(const std::string& raw) {
  std::string z;
  z.push_back(0x78);  // CMF: deflate, 32 KiB window
  z.push_back(0x01);  // FLG: no dictionary, fastest; (0x78·256 + 0x01) % 31 == 0
  size_t at = 0;
  do {
    const size_t len = std::min<size_t>(65535, raw.size() - at);
    const bool final_block = at + len == raw.size();
    z.push_back(final_block ? 0x01 : 0x00);  // BFINAL, BTYPE = 00 (stored)
    z.push_back(static_cast<char>(len & 0xFF));
    z.push_back(static_cast<char>(len >> 8));
    z.push_back(static_cast<char>(~len & 0xFF));
    z.push_back(static_cast<char>((~len >> 8) & 0xFF));
    z.append(raw, at, len);
    at += len;
  } while (at < raw.size());
  PutBigEndian32(z, Adler32(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()));
  return z;
}

void SetPixel(RgbImage& image, int64_t y, int64_t x, const Rgb& c) {
  if (y < 0 || x < 0 || y >= image.height || x >= image.width) return;
  uint8_t* p = &image.pixels[(y * image.width + x) * 3];
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

}  // namespace

uint32_t Crc32(const uint8_t* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

uint32_t Adler32(const uint8_t* data, size_t size) {
  constexpr uint32_t kMod = 65521;  // largest prime below 2^16 (RFC 1950 §8.2)
  uint32_t a = 1, b = 0;
  for (size_t i = 0; i < size; ++i) {
    a = (a + data[i]) % kMod;
    b = (b + a) % kMod;
  }
  return (b << 16) | a;
}

absl::StatusOr<std::string> EncodePng(const RgbImage& image) {
  if (image.width < 1 || image.height < 1 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return absl::InvalidArgumentError(absl::StrCat("image ", image.width, "x", image.height,
                                                   " with ", image.pixels.size(), " bytes"));
  }
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string header;
  PutBigEndian32(header, static_cast<uint32_t>(image.width));
  PutBigEndian32(header, static_cast<uint32_t>(image.height));
  header += std::string("\x08\x02\x00\x00\x00", 5);  // 8 bit, RGB, deflate, filter 0, no interlace
  PutChunk(png, "IHDR", header);
  // Each scanline is preceded by its filter type; 0 = None (PNG spec §9.2).
  const size_t row_bytes = static_cast<size_t>(image.width) * 3;
  std::string raw;
  raw.reserve((row_bytes + 1) * image.height);
  for (int y = 0; y < image.height; ++y) {
    raw.push_back(0);
    raw.append(reinterpret_cast<const char*>(&image.pixels[y * row_bytes]), row_bytes);
  }
  PutChunk(png, "IDAT", ZlibStored(raw));
  PutChunk(png, "IEND", "");
  return png;
}

absl::Status WritePng(const std::string& path, const RgbImage& image) {
  absl::StatusOr<std::string> png = EncodePng(image);
  if (!png.ok()) return png.status();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(png->data(), static_cast<std::streamsize>(png->size()));
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<RgbImage> RenderHeatmap(const std::vector<float>& matrix, int64_t rows, int64_t cols,
                                       const HeatmapOptions& options) {
  if (rows < 1 || cols < 1 || matrix.size() != static_cast<size_t>(rows * cols) ||
      options.scale < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "heatmap ", rows, "x", cols, " with ", matrix.size(), " values, scale ", options.scale));
  }
  auto masked = [&](int64_t r, int64_t c) { return options.mask_above_diagonal && c > r; };
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const float v = matrix[r * cols + c];
      if (masked(r, c) || !std::isfinite(v)) continue;
      lo = std::min<double>(lo, v);
      hi = std::max<double>(hi, v);
    }
  }
  const bool is_signed = lo < 0;
  const double abs_max = std::max(std::abs(lo), std::abs(hi));
  auto colour = [&](float v) {
    if (is_signed) return DivergingColor(abs_max > 0 ? v / abs_max : 0.0);
    return ViridisColor(hi > lo ? (v - lo) / (hi - lo) : 0.0);
  };
  RgbImage image;
  image.width = static_cast<int>(cols * options.scale);
  image.height = static_cast<int>(rows * options.scale);
  image.pixels.assign(static_cast<size_t>(image.width) * image.height * 3, 0);
  const Rgb kMaskGrey{200, 200, 200};
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const Rgb rgb = masked(r, c) ? kMaskGrey : colour(matrix[r * cols + c]);
      for (int dy = 0; dy < options.scale; ++dy) {
        for (int dx = 0; dx < options.scale; ++dx) {
          SetPixel(image, r * options.scale + dy, c * options.scale + dx, rgb);
        }
      }
    }
  }
  const Rgb outline = is_signed ? Rgb{0, 0, 0} : Rgb{255, 0, 0};
  for (const CellBox& box : options.outlines) {
    const int64_t y0 = box.row_begin * options.scale - 1, y1 = box.row_end * options.scale;
    const int64_t x0 = box.col_begin * options.scale - 1, x1 = box.col_end * options.scale;
    for (int64_t x = x0; x <= x1; ++x) {
      SetPixel(image, y0, x, outline);
      SetPixel(image, y1, x, outline);
    }
    for (int64_t y = y0; y <= y1; ++y) {
      SetPixel(image, y, x0, outline);
      SetPixel(image, y, x1, outline);
    }
  }
  return image;
}

}  // namespace mamba_explain
