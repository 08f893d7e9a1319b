// A dependency-free PNG writer (8-bit RGB, PNG spec ISO/IEC 15948 / RFC 2083) and the heatmap
// renderer of the faithfulness evaluation. The zlib stream (RFC 1950) holds only "stored" deflate
// blocks (RFC 1951 §3.2.4, BTYPE = 00): no compression, so a picture costs ≈ 3·width·height bytes
// and nothing beyond the C++ standard library is needed. CRC-32 (PNG spec §5.5, ISO-HDLC
// polynomial 0xEDB88320) and Adler-32 (RFC 1950 §8.2) are written here. Thread-safe.
#ifndef MAMBA_EXPLAIN_EVAL_HEATMAP_PNG_H_
#define MAMBA_EXPLAIN_EVAL_HEATMAP_PNG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "eval/colormap.h"

namespace mamba_explain {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // [height, width, 3] row-major
};

uint32_t Crc32(const uint8_t* data, size_t size, uint32_t crc = 0);  // chainable
uint32_t Adler32(const uint8_t* data, size_t size);

// PNG file bytes. INVALID_ARGUMENT if a side is < 1 or pixels.size() != 3·width·height.
absl::StatusOr<std::string> EncodePng(const RgbImage& image);
absl::Status WritePng(const std::string& path, const RgbImage& image);

// Half-open cell rectangle [row_begin, row_end) × [col_begin, col_end) outlined on the heatmap.
struct CellBox {
  int64_t row_begin = 0, row_end = 0, col_begin = 0, col_end = 0;
};

struct HeatmapOptions {
  int scale = 1;                    // pixels per cell side
  bool mask_above_diagonal = true;  // cells col > row drawn grey (causal maps are 0 there)
  std::vector<CellBox> outlines;    // drawn 1 pixel outside each box
};

// Colours a rows × cols row-major matrix. Scale: over the unmasked cells; if any is negative, the
// diverging map with ±max|v| (outline black), else viridis from min to max (outline red).
// INVALID_ARGUMENT on a size mismatch or scale < 1.
absl::StatusOr<RgbImage> RenderHeatmap(const std::vector<float>& matrix, int64_t rows, int64_t cols,
                                       const HeatmapOptions& options);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EVAL_HEATMAP_PNG_H_
