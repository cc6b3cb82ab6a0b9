//===- OutlierColsSchemeTest.cpp - #mixq.outlier_cols via the interface ---===//
//
// The QUIK scheme through QuantSchemeAttrInterface only:
//   * the components are the host quantizer's buffers plus col_map, and the
//     bits per weight are their byte size;
//   * quantize/dequantize agree with the host quantizer (quant/
//     OutlierColumns.h), the outlier columns round-trip through fp16;
//   * calibration E[x^2] picks the outlier columns, the column norm does
//     without it;
//   * inconsistent buffers (col_map, outlier_cols) and calibration data of
//     the wrong size are named errors.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/MixQDialect.h"
#include "quant/BitPacking.h"
#include "quant/FloatFormats.h"
#include "quant/OutlierColumns.h"
#include "test/unit/QuantTestUtil.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace mlir;
using namespace mlir::mixq;
namespace qt = ::mixq::quant;

namespace {

class OutlierColsSchemeTest : public ::testing::Test {
protected:
  OutlierColsSchemeTest() { context.loadDialect<MixQDialect>(); }

  OutlierColsSchemeAttr scheme(int64_t cols, unsigned bits) {
    return OutlierColsSchemeAttr::get(&context, cols, bits, /*actBits=*/0);
  }

  MLIRContext context;
};

template <typename T> std::vector<T> asVector(const PackedBuffer &bytes) {
  std::vector<T> values(bytes.size() / sizeof(T));
  if (!values.empty())
    std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

TEST_F(OutlierColsSchemeTest, ComponentsAndBitsPerWeight) {
  // 64 x 172, 8 outlier columns, 4 bits: codes for all 172 columns ->
  // 688 bits -> 22 words a row.
  SmallVector<ComponentSpec> components = scheme(8, 4).getComponents({64, 172});
  ASSERT_EQ(components.size(), 6u);
  std::vector<std::string> names;
  for (const ComponentSpec &c : components)
    names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"outlier_cols", "outlier_weights",
                                             "codes", "scales", "row_sums",
                                             "col_map"}));
  EXPECT_EQ(components[2].shape, (SmallVector<int64_t, 2>{64, 22}));
  EXPECT_TRUE(components[5].elementType.isInteger(16));
  // 32 + 2*64*8 + 4*64*22 + 2*64 + 4*64 + 2*172 bytes.
  double bytes = 32 + 1024 + 5632 + 128 + 256 + 344;
  EXPECT_DOUBLE_EQ(scheme(8, 4).getBitsPerWeight({64, 172}),
                   8.0 * bytes / (64.0 * 172.0));
  // col_map switches to i32 above K = 32768.
  EXPECT_TRUE(
      scheme(1, 8).getComponents({2, 32768})[5].elementType.isInteger(16));
  EXPECT_TRUE(
      scheme(1, 8).getComponents({2, 32769})[5].elementType.isInteger(32));
}

TEST_F(OutlierColsSchemeTest, MatchesTheHostQuantizer) {
  const int64_t rows = 24, cols = 96;
  std::vector<float> w = qt::testing::heavyTailedMatrix(rows, cols, 7);
  for (unsigned bits : {4u, 8u}) {
    OutlierColsSchemeAttr attr = scheme(6, bits);
    auto packed = attr.quantize(w, {rows, cols}, {});
    ASSERT_TRUE(bool(packed)) << llvm::toString(packed.takeError());
    ASSERT_FALSE(
        bool(checkPackedSizes(attr.getComponents({rows, cols}), *packed)));
    qt::OutlierColumnsParams params;
    params.outlierColumns = 6;
    params.bits = bits;
    qt::OutlierColumnsQuantized host =
        qt::quantizeOutlierColumns(w.data(), rows, cols, params);
    EXPECT_EQ(asVector<int32_t>((*packed)[0]), host.outlierCols);
    EXPECT_EQ(asVector<uint16_t>((*packed)[1]), host.outlierWeights);
    EXPECT_EQ(asVector<uint32_t>((*packed)[2]), host.codes);
    EXPECT_EQ(asVector<uint16_t>((*packed)[3]), host.scales);
    EXPECT_EQ(asVector<int32_t>((*packed)[4]), host.rowSums);
    // col_map: outlier slots, -1 for the quantized columns; an outlier
    // column's code is the offset 2^(bits-1), a weight of 0.
    std::vector<int16_t> map = asVector<int16_t>((*packed)[5]);
    int slot = 0;
    for (int64_t c = 0; c < cols; ++c) {
      if (slot < 6 && host.outlierCols[slot] == c) {
        EXPECT_EQ(map[c], slot++) << c;
        for (int64_t r = 0; r < rows; ++r)
          EXPECT_EQ(qt::extractCode(host.codes.data() +
                                        r * qt::packedWordCount(cols, bits),
                                    c, bits),
                    1u << (bits - 1))
              << r << ", " << c;
      } else {
        EXPECT_EQ(map[c], -1) << c;
      }
    }

    auto restored = attr.dequantize(*packed, {rows, cols});
    ASSERT_TRUE(bool(restored)) << llvm::toString(restored.takeError());
    EXPECT_EQ(*restored,
              qt::dequantizeOutlierColumns(host, rows, cols, params));
    for (int32_t c : host.outlierCols)
      for (int64_t r = 0; r < rows; ++r)
        EXPECT_EQ((*restored)[r * cols + c],
                  qt::halfBitsToFloat(qt::floatToHalfBits(w[r * cols + c])));
    // 8-bit codes reconstruct much better than 4-bit ones.
    EXPECT_LT(qt::testing::relativeError(w, *restored),
              bits == 8 ? 0.01 : 0.15);
  }
}

TEST_F(OutlierColsSchemeTest, CalibrationPicksTheColumns) {
  const int64_t rows = 8, cols = 32;
  std::vector<float> w = qt::testing::heavyTailedMatrix(rows, cols, 3);
  OutlierColsSchemeAttr attr = scheme(2, 4);
  // Without statistics: the two largest column norms.
  std::vector<double> norm(cols, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      norm[c] += double(w[r * cols + c]) * w[r * cols + c];
  auto plain = attr.quantize(w, {rows, cols}, {});
  ASSERT_TRUE(bool(plain));
  std::vector<int32_t> chosen = asVector<int32_t>((*plain)[0]);
  ASSERT_EQ(chosen.size(), 2u);
  for (int64_t c = 0; c < cols; ++c)
    if (c != chosen[0] && c != chosen[1])
      EXPECT_LE(norm[c], std::min(norm[chosen[0]], norm[chosen[1]])) << c;
  // With E[x^2]: the activation scale decides, whatever the weights.
  std::vector<float> meanSquare(cols, 1.0f);
  meanSquare[3] = 50.0f;
  meanSquare[29] = 40.0f;
  QuantizeOptions options;
  options.inputSensitivity = meanSquare;
  auto calibrated = attr.quantize(w, {rows, cols}, options);
  ASSERT_TRUE(bool(calibrated));
  EXPECT_EQ(asVector<int32_t>((*calibrated)[0]), (std::vector<int32_t>{3, 29}));
  // Calibration data of the wrong size is the user's error.
  std::vector<float> shortStats(cols - 1, 1.0f);
  options.inputSensitivity = shortStats;
  auto bad = attr.quantize(w, {rows, cols}, options);
  ASSERT_FALSE(bool(bad));
  EXPECT_EQ(llvm::toString(bad.takeError()).rfind("outlier_cols: ", 0), 0u);
}

TEST_F(OutlierColsSchemeTest, InconsistentBuffersAreErrors) {
  const int64_t rows = 4, cols = 16;
  std::vector<float> w = qt::testing::heavyTailedMatrix(rows, cols, 11);
  OutlierColsSchemeAttr attr = scheme(2, 4);
  auto packed = attr.quantize(w, {rows, cols}, {});
  ASSERT_TRUE(bool(packed));

  PackedWeights badMap = *packed;
  badMap[5][0] ^= 1; // col_map[0] no longer matches outlier_cols
  auto mapError = attr.dequantize(badMap, {rows, cols});
  ASSERT_FALSE(bool(mapError));
  EXPECT_NE(llvm::toString(mapError.takeError()).find("'col_map'"),
            std::string::npos);

  PackedWeights badCols = *packed;
  int32_t same[2] = {5, 5};
  std::memcpy(badCols[0].data(), same, sizeof(same));
  auto colsError = attr.dequantize(badCols, {rows, cols});
  ASSERT_FALSE(bool(colsError));
  EXPECT_NE(llvm::toString(colsError.takeError()).find("increasing"),
            std::string::npos);

  PackedWeights missing = *packed;
  missing.pop_back();
  auto countError = attr.dequantize(missing, {rows, cols});
  ASSERT_FALSE(bool(countError));
  EXPECT_NE(llvm::toString(countError.takeError()).find("expected 6"),
            std::string::npos);
}

} // namespace
