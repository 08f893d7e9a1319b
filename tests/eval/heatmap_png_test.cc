// The PNG writer against the specs, not against itself: CRC-32 and Adler-32 check values of the
// standard test strings, and a decoder written here (bitwise CRC, stored-block inflate, filter 0)
// that must recover every pixel. tests/eval/check_png.py repeats the decoding with Python's zlib.
#include "eval/heatmap_png.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "tests/status_matchers.h"

namespace mamba_explain {
namespace {

uint32_t BitwiseCrc32(const std::string& bytes) {  // PNG spec Annex D, one bit at a time
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    c ^= byte;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return ~c;
}

uint32_t ReadBigEndian32(const std::string& s, size_t at) {
  return (uint32_t{static_cast<uint8_t>(s[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(s[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[at + 2])} << 8) |
         uint32_t{static_cast<uint8_t>(s[at + 3])};
}

struct DecodedPng {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;
  int idat_blocks = 0;
};

// Fails the test (and returns what it has) on any violation of the format.
DecodedPng Decode(const std::string& png) {
  DecodedPng out;
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::string zlib;
  size_t at = 8;
  bool saw_end = false;
  while (at + 12 <= png.size()) {
    const uint32_t len = ReadBigEndian32(png, at);
    const std::string type = png.substr(at + 4, 4);
    const std::string data = png.substr(at + 8, len);
    EXPECT_EQ(ReadBigEndian32(png, at + 8 + len), BitwiseCrc32(png.substr(at + 4, 4 + len)))
        << "CRC of " << type;
    if (type == "IHDR") {
      out.width = static_cast<int>(ReadBigEndian32(data, 0));
      out.height = static_cast<int>(ReadBigEndian32(data, 4));
      EXPECT_EQ(data.substr(8), std::string("\x08\x02\x00\x00\x00", 5));
    } else if (type == "IDAT") {
      zlib += data;
    } else if (type == "IEND") {
      saw_end = true;
    }
    at += 12 + len;
  }
  EXPECT_TRUE(saw_end);
  EXPECT_EQ(at, png.size());
  // zlib header, then stored blocks: BFINAL/BTYPE byte, LEN, NLEN (RFC 1951 §3.2.4).
  EXPECT_EQ((static_cast<uint8_t>(zlib[0]) * 256 + static_cast<uint8_t>(zlib[1])) % 31, 0);
  std::string raw;
  size_t z = 2;
  for (bool final_block = false; !final_block;) {
    const uint8_t header = static_cast<uint8_t>(zlib[z]);
    final_block = header & 1;
    EXPECT_EQ(header >> 1, 0) << "BTYPE must be 00";
    const uint16_t len =
        static_cast<uint8_t>(zlib[z + 1]) | (static_cast<uint8_t>(zlib[z + 2]) << 8);
    const uint16_t nlen =
        static_cast<uint8_t>(zlib[z + 3]) | (static_cast<uint8_t>(zlib[z + 4]) << 8);
    EXPECT_EQ(static_cast<uint16_t>(~len), nlen);
    raw += zlib.substr(z + 5, len);
    z += 5 + len;
    ++out.idat_blocks;
  }
  EXPECT_EQ(ReadBigEndian32(zlib, z),
            Adler32(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()));
  EXPECT_EQ(z + 4, zlib.size());
  const size_t row_bytes = static_cast<size_t>(out.width) * 3;
  EXPECT_EQ(raw.size(), (row_bytes + 1) * out.height);
  for (int y = 0; y < out.height && (y + 1) * (row_bytes + 1) <= raw.size(); ++y) {
    EXPECT_EQ(raw[y * (row_bytes + 1)], 0) << "filter type of row " << y;
    const char* row = &raw[y * (row_bytes + 1) + 1];
    out.pixels.insert(out.pixels.end(), row, row + row_bytes);
  }
  return out;
}

TEST(HeatmapPngTest, ChecksumsMatchStandardCheckValues) {
  const std::string digits = "123456789";
  EXPECT_EQ(Crc32(reinterpret_cast<const uint8_t*>(digits.data()), digits.size()), 0xCBF43926u);
  const std::string wikipedia = "Wikipedia";  // RFC 1950's Adler-32 example value
  EXPECT_EQ(Adler32(reinterpret_cast<const uint8_t*>(wikipedia.data()), wikipedia.size()),
            0x11E60398u);
}

TEST(HeatmapPngTest, RoundTripsPixelsAcrossSeveralStoredBlocks) {
  RgbImage image;
  image.width = 200;
  image.height = 130;  // 130 · (600 + 1) bytes > 65535: at least two stored blocks
  for (int i = 0; i < image.width * image.height * 3; ++i) {
    image.pixels.push_back(static_cast<uint8_t>((i * 7919) >> 3));
  }
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(image));
  DecodedPng decoded = Decode(png);
  EXPECT_EQ(decoded.width, 200);
  EXPECT_EQ(decoded.height, 130);
  EXPECT_GE(decoded.idat_blocks, 2);
  EXPECT_EQ(decoded.pixels, image.pixels);
}

TEST(HeatmapPngTest, RejectsInconsistentImages) {
  RgbImage image;
  image.width = 2;
  image.height = 2;
  image.pixels.assign(11, 0);
  EXPECT_EQ(EncodePng(image).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HeatmapPngTest, RendersScaledCellsMaskAndOutline) {
  // 3×3 lower-triangular map, values 0..5 on the causal cells.
  const std::vector<float> m = {0, 9, 9, 1, 2, 9, 3, 4, 5};
  HeatmapOptions options;
  options.scale = 4;
  options.outlines.push_back(CellBox{2, 3, 0, 2});
  ASSERT_OK_AND_ASSIGN(RgbImage image, RenderHeatmap(m, 3, 3, options));
  ASSERT_EQ(image.width, 12);
  ASSERT_EQ(image.height, 12);
  auto pixel = [&](int y, int x) {
    const uint8_t* p = &image.pixels[(y * image.width + x) * 3];
    return Rgb{p[0], p[1], p[2]};
  };
  auto same = [](Rgb a, Rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; };
  EXPECT_TRUE(same(pixel(1, 1), ViridisColor(0.0)));   // cell (0,0) = min
  EXPECT_TRUE(same(pixel(9, 9), ViridisColor(1.0)));   // cell (2,2) = max; 9s above are masked
  EXPECT_TRUE(same(pixel(1, 9), Rgb{200, 200, 200}));  // masked cell (0,2)
  EXPECT_TRUE(same(pixel(7, 2), Rgb{255, 0, 0}));      // outline row just above cell row 2
  EXPECT_TRUE(same(pixel(10, 8), Rgb{255, 0, 0}));     // outline column right of cell col 1
  EXPECT_EQ(RenderHeatmap(m, 3, 2, options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HeatmapPngTest, SignedMapsUseTheDivergingScale) {
  const std::vector<float> m = {-2, 0, 1, 2};
  HeatmapOptions options;
  options.mask_above_diagonal = false;
  ASSERT_OK_AND_ASSIGN(RgbImage image, RenderHeatmap(m, 2, 2, options));
  auto pixel = [&](int i) {
    const uint8_t* p = &image.pixels[i * 3];
    return Rgb{p[0], p[1], p[2]};
  };
  EXPECT_EQ(pixel(0).b, DivergingColor(-1.0).b);
  EXPECT_EQ(pixel(1).r, DivergingColor(0.0).r);
  EXPECT_EQ(pixel(3).r, DivergingColor(1.0).r);
  EXPECT_GT(pixel(0).b, pixel(0).r);  // negative is blue
  EXPECT_GT(pixel(3).r, pixel(3).b);  // positive is red
}

}  // namespace
}  // namespace mamba_explain
