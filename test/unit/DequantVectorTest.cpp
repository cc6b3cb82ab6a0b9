//===- DequantVectorTest.cpp - word-level dequantization ------------------===//
//
// QuantSchemeAttrInterface::buildDequantVector must compute, bit for bit,
// what buildDequantTile computes for the same tile, and so what the host
// dequantizer gives rounded to the result type. Checked by evaluating the
// emitted IR over constant components (test/unit/TileEvaluation.h):
//   * affine at 2, 3, 4 and 8 bits (the word-level f16x2 and f32 paths; 3-bit
//     codes straddle words), with every code value, symmetric and
//     asymmetric, every scale type and result type, and scales that make
//     products subnormal or overflow;
//   * the test-only fp4 scheme (test/lib), which builds its word-level path
//     from the same public helpers a scheme outside mixq would use;
//   * every other built-in scheme, through the default or its own path.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/MixQDialect.h"
#include "dialect/MixQ/Quant/BitPacking.h"
#include "dialect/MixQ/Quant/FloatFormats.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "test/unit/QuantTestUtil.h"
#include "test/unit/TileEvaluation.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/DialectRegistry.h"

#include <gtest/gtest.h>

#include <cmath>

namespace mixq::test {
void registerTestSchemesDialect(mlir::DialectRegistry &registry);
} // namespace mixq::test

using namespace mlir;
using namespace mlir::mixq;
using ::mixq::test::evaluateTiles;
using ::mixq::test::TileForm;
namespace qt = ::mixq::quant;

namespace {

class DequantVectorTest : public ::testing::Test {
protected:
  DequantVectorTest() {
    DialectRegistry registry;
    ::mixq::test::registerTestSchemesDialect(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
    context.loadDialect<MixQDialect>();
  }

  QuantSchemeAttrInterface scheme(StringRef text) {
    Attribute attr = parseAttribute(text, &context);
    EXPECT_TRUE(attr) << text.str();
    auto scheme = dyn_cast_or_null<QuantSchemeAttrInterface>(attr);
    EXPECT_TRUE(scheme) << text.str();
    return scheme;
  }

  /// Vector == tile, bit for bit, for every width in `widths` and result
  /// type; returns the f32 weights of the first width.
  void expectVectorEqualsTile(QuantSchemeAttrInterface attr,
                              ArrayRef<int64_t> shape,
                              const PackedWeights &packed,
                              ArrayRef<int64_t> widths) {
    for (FloatType type : {FloatType(Float32Type::get(&context)),
                           FloatType(Float16Type::get(&context)),
                           FloatType(BFloat16Type::get(&context))}) {
      for (int64_t width : widths) {
        SCOPED_TRACE("width " + std::to_string(width) + ", result " +
                     debugString(type));
        std::vector<double> tile =
            evaluateTiles(context, attr, shape, packed, width, type);
        std::vector<double> vector = evaluateTiles(
            context, attr, shape, packed, width, type, TileForm::Vector);
        ASSERT_EQ(tile.size(), vector.size());
        for (size_t i = 0; i < tile.size(); ++i)
          ASSERT_TRUE(sameValue(tile[i], vector[i]))
              << "weight " << i << ": tile " << tile[i] << ", vector "
              << vector[i];
      }
    }
  }

  static bool sameValue(double a, double b) {
    return (std::isnan(a) && std::isnan(b)) ||
           (a == b && std::signbit(a) == std::signbit(b));
  }

  static std::string debugString(Type type) {
    std::string text;
    llvm::raw_string_ostream os(text);
    type.print(os);
    return text;
  }

  MLIRContext context;
};

qt::ScalarFormat formatOf(StringRef scale) {
  if (scale == "f32")
    return qt::ScalarFormat::F32;
  if (scale == "bf16")
    return qt::ScalarFormat::BF16;
  return qt::ScalarFormat::F16;
}

/// Affine components by hand: codes 0, 1, 2, ... cycling through every
/// value in each row (shifted per row), integer zero points over the whole
/// range, and scales from subnormal products to f16 overflow.
PackedWeights handMadeAffine(unsigned bits, bool symmetric, StringRef scale,
                             int64_t rows, int64_t cols, int64_t group) {
  uint32_t levels = 1u << bits;
  std::vector<uint8_t> codes(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      codes[r * cols + c] = static_cast<uint8_t>((c * 7 + r * 3) % levels);
  PackedWeights packed;
  packed.push_back(
      wordsToBytes(qt::packMatrix(codes.data(), rows, cols, bits)));
  qt::ScalarFormat format = formatOf(scale);
  size_t bytes = format == qt::ScalarFormat::F32 ? 4 : 2;
  int64_t groups = rows * cols / group;
  const float scales[] = {0.0123f, 3.0e-6f, 977.0f, -0.5f, 1.0f, 6.1e-5f};
  PackedBuffer scaleBytes(groups * bytes), zeroBytes(groups * bytes);
  for (int64_t g = 0; g < groups; ++g) {
    qt::storeScalar(scales[g % 6], format, &scaleBytes[g * bytes]);
    qt::storeScalar(static_cast<float>((g * 5) % levels), format,
                    &zeroBytes[g * bytes]);
  }
  packed.push_back(std::move(scaleBytes));
  if (!symmetric)
    packed.push_back(std::move(zeroBytes));
  return packed;
}

TEST_F(DequantVectorTest, AffineWordsEqualTheTileForEveryCode) {
  const int64_t rows = 4, cols = 256, group = 32;
  for (unsigned bits : {2u, 3u, 4u, 8u})
    for (bool symmetric : {false, true})
      for (StringRef scaleType : {"f16", "bf16", "f32"}) {
        std::string text =
            "#mixq.affine<bits = " + std::to_string(bits) +
            ", group = 32, symmetric = " + (symmetric ? "true" : "false") +
            ", scale = " + scaleType.str() + ">";
        SCOPED_TRACE(text);
        QuantSchemeAttrInterface attr = scheme(text);
        PackedWeights packed =
            handMadeAffine(bits, symmetric, scaleType, rows, cols, group);
        auto host = attr.dequantize(packed, {rows, cols});
        ASSERT_TRUE(!!host) << llvm::toString(host.takeError());
        // 8 columns: whole words at 8 bits, the scalar fallback below; 32:
        // whole words at every width; 64: more than a group, the fallback.
        expectVectorEqualsTile(attr, {rows, cols}, packed, {8, 32, 64});
        // And the tile is the host dequantizer, rounded.
        std::vector<double> f16 =
            evaluateTiles(context, attr, {rows, cols}, packed, 32,
                          Float16Type::get(&context), TileForm::Vector);
        for (size_t i = 0; i < host->size(); ++i)
          ASSERT_TRUE(sameValue(
              f16[i], qt::roundToFormat((*host)[i], qt::ScalarFormat::F16)))
              << "weight " << i;
      }
}

TEST_F(DequantVectorTest, QuantizedAffineWordsEqualTheHost) {
  const int64_t rows = 8, cols = 256;
  std::vector<float> w = qt::testing::heavyTailedMatrix(rows, cols, 17);
  for (const char *text : {"#mixq.affine<bits = 4, group = 128>",
                           "#mixq.affine<bits = 2, group = 64>",
                           "#mixq.affine<bits = 3, group = 64>",
                           "#mixq.affine<bits = 8, group = 32>"}) {
    SCOPED_TRACE(text);
    QuantSchemeAttrInterface attr = scheme(text);
    auto packed = attr.quantize(w, {rows, cols}, {});
    ASSERT_TRUE(!!packed);
    auto host = attr.dequantize(*packed, {rows, cols});
    ASSERT_TRUE(!!host);
    std::vector<double> f16 =
        evaluateTiles(context, attr, {rows, cols}, *packed, 32,
                      Float16Type::get(&context), TileForm::Vector);
    for (size_t i = 0; i < host->size(); ++i)
      ASSERT_TRUE(sameValue(
          f16[i], qt::roundToFormat((*host)[i], qt::ScalarFormat::F16)))
          << "weight " << i;
  }
}

TEST_F(DequantVectorTest, TestSchemeWordsEqualTheTileForEveryCode) {
  const int64_t rows = 3, cols = 128;
  QuantSchemeAttrInterface attr = scheme("#mixq_test.fp4<group = 32>");
  // Every one of the 16 codes in every row, at every position in a word.
  std::vector<uint8_t> codes(rows * cols);
  for (int64_t i = 0; i < rows * cols; ++i)
    codes[i] = static_cast<uint8_t>((i * 5 + i / 16) % 16);
  PackedWeights packed;
  packed.push_back(wordsToBytes(qt::packMatrix(codes.data(), rows, cols, 4)));
  PackedBuffer scales(rows * cols / 32 * 2);
  for (size_t g = 0; g < scales.size() / 2; ++g)
    qt::storeScalar(g % 2 ? 0.75f : 1.0e-5f, qt::ScalarFormat::F16,
                    &scales[g * 2]);
  packed.push_back(scales);
  expectVectorEqualsTile(attr, {rows, cols}, packed, {8, 16, 32});
  auto host = attr.dequantize(packed, {rows, cols});
  ASSERT_TRUE(!!host);
  std::vector<double> f32 =
      evaluateTiles(context, attr, {rows, cols}, packed, 16,
                    Float32Type::get(&context), TileForm::Vector);
  for (size_t i = 0; i < host->size(); ++i)
    ASSERT_EQ(f32[i], double((*host)[i])) << "weight " << i;
}

TEST_F(DequantVectorTest, EveryBuiltInSchemeAgreesWithItsTile) {
  const int64_t rows = 4, cols = 128;
  std::vector<float> w = qt::testing::heavyTailedMatrix(rows, cols, 23);
  w[1 * cols + 9] = 40.0f; // an outlier for the sparse schemes
  for (const char *text :
       {"#mixq.affine<bits = 3, group = 32>", "#mixq.lut<bits = 3>",
        "#mixq.lut<bits = 4>", "#mixq.mixed<group = 32>",
        "#mixq.bitplane<seed = 2, parent = 4, width = 3>",
        "#mixq.sparse<#mixq.affine<bits = 4, group = 32>, frac = 0.02>",
        "#mixq.sparse<#mixq.lut<bits = 3>, frac = 0.02>"}) {
    SCOPED_TRACE(text);
    QuantSchemeAttrInterface attr = scheme(text);
    auto packed = attr.quantize(w, {rows, cols}, {});
    ASSERT_TRUE(!!packed) << llvm::toString(packed.takeError());
    expectVectorEqualsTile(attr, {rows, cols}, *packed, {8, 32});
  }
}

} // namespace
