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
//   * mixed by hand (every 4-bit code in high groups, every 2-bit code in
//     low ones, every zero code, subnormal f16 scales) and quantized, with
//     and without high groups, at 2/4, 1/2 and 2/3 bits;
//   * every other built-in scheme, through the default or its own path.
//   * QUIK's outlier columns by hand (every 4- and 8-bit code, subnormal
//     and large row scales) and quantized, alone and under #mixq.sparse.
// Schemes with scale factors (getScaleFactorColumns: affine's group scale,
// QUIK's row scale, fp4's group scale) give unscaled tiles exact in f16 and
// bf16 whose product with the factor in f32 is the f32 tile, bit for bit.
// Schemes with sparse terms (mixed's and #mixq.sparse's outliers, QUIK's
// fp16 columns) leave them out of the vector; buildSparseDot's sums are
// checked against the components.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/MixQDialect.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "quant/BitPacking.h"
#include "quant/FloatFormats.h"
#include "test/unit/QuantTestUtil.h"
#include "test/unit/TileEvaluation.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>

namespace mixq::test {
void registerTestSchemesDialect(mlir::DialectRegistry &registry);
} // namespace mixq::test

using namespace mlir;
using namespace mlir::mixq;
using ::mixq::test::evaluateTiles;
using ::mixq::test::IndirectReads;
using ::mixq::test::RowTables;
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

  /// A scheme's CSR outliers (every component set named outlier_row_ptr,
  /// outlier_col_idx, outlier_values, maybe prefixed), as (row, col,
  /// f32 value) in storage order, a composed scheme's own set first.
  struct Outlier {
    int64_t row, col;
    float value;
    int set; ///< 0: the scheme's own, 1: its dense scheme's
  };
  std::vector<Outlier> getOutliers(QuantSchemeAttrInterface attr,
                                   ArrayRef<int64_t> shape,
                                   const PackedWeights &packed) {
    SmallVector<ComponentSpec> specs = attr.getComponents(shape);
    std::vector<Outlier> outliers;
    int set = 0;
    for (int64_t i = int64_t(specs.size()) - 1; i >= 1; --i) {
      // QUIK's outlier columns: every row has a term in each, in slot order.
      if (StringRef(specs[i].name).ends_with("outlier_weights") &&
          StringRef(specs[i - 1].name).ends_with("outlier_cols")) {
        std::vector<int32_t> cols = fromBytes<int32_t>(packed[i - 1]);
        std::vector<uint16_t> values = fromBytes<uint16_t>(packed[i]);
        for (int64_t r = 0; r < shape[0]; ++r)
          for (size_t j = 0; j < cols.size(); ++j)
            outliers.push_back(
                {r, cols[j], qt::halfBitsToFloat(values[r * cols.size() + j]),
                 set});
        ++set;
        continue;
      }
      if (i < 2 || !StringRef(specs[i].name).ends_with("outlier_values"))
        continue;
      const PackedBuffer &ptr = packed[i - 2], &idx = packed[i - 1];
      unsigned idxBytes = specs[i - 1].elementType.getIntOrFloatBitWidth() / 8;
      auto read = [](const PackedBuffer &bytes, int64_t at, unsigned size) {
        int64_t value = 0;
        for (unsigned b = 0; b < size; ++b)
          value |= int64_t(bytes[at * size + b]) << (8 * b);
        return value;
      };
      for (int64_t r = 0; r < shape[0]; ++r)
        for (int64_t e = read(ptr, r, 4); e < read(ptr, r + 1, 4); ++e)
          outliers.push_back(
              {r, read(idx, e, idxBytes),
               qt::halfBitsToFloat(uint16_t(read(packed[i], e, 2))), set});
      ++set;
    }
    return outliers;
  }

  /// Vector == tile, bit for bit, for every width in `widths` and result
  /// type, except that a scheme with sparse terms leaves them out of the
  /// vector: in f32 the vector plus the weight's outlier value is the tile,
  /// in f16 and bf16 the vector at an outlier is its f32 value rounded. The
  /// sparse terms themselves are what buildSparseDot sums, for every
  /// partition of a row's terms into 1, 2 or 3 interleaved parts.
  void expectVectorEqualsTile(QuantSchemeAttrInterface attr,
                              ArrayRef<int64_t> shape,
                              const PackedWeights &packed,
                              ArrayRef<int64_t> widths) {
    std::vector<Outlier> outliers = getOutliers(attr, shape, packed);
    std::vector<float> residual(shape[0] * shape[1], 0.0f);
    std::vector<bool> isOutlier(residual.size(), false);
    for (const Outlier &o : outliers) {
      residual[o.row * shape[1] + o.col] += o.value;
      isOutlier[o.row * shape[1] + o.col] = true;
    }
    for (int64_t width : widths) {
      std::vector<double> dense32;
      for (FloatType type : {FloatType(Float32Type::get(&context)),
                             FloatType(Float16Type::get(&context)),
                             FloatType(BFloat16Type::get(&context))}) {
        SCOPED_TRACE("width " + std::to_string(width) + ", result " +
                     debugString(type));
        std::vector<double> tile =
            evaluateTiles(context, attr, shape, packed, width, type);
        std::vector<double> vector = evaluateTiles(
            context, attr, shape, packed, width, type, TileForm::Vector);
        ASSERT_EQ(tile.size(), vector.size());
        // The scheme's own order holds the same weights, bit for bit.
        std::vector<double> anyOrder = evaluateTiles(
            context, attr, shape, packed, width, type, TileForm::AnyOrder);
        ASSERT_EQ(anyOrder.size(), vector.size());
        for (size_t i = 0; i < vector.size(); ++i)
          ASSERT_TRUE(sameValue(anyOrder[i], vector[i]))
              << "weight " << i << ": in any order " << anyOrder[i]
              << ", in column order " << vector[i];
        // With its row tables (QuantSchemeAttrInterface::getRowTables)
        // built, in either order: the same bits.
        if (!attr.getRowTables(shape).empty())
          for (TileForm form : {TileForm::Vector, TileForm::AnyOrder}) {
            std::vector<double> tabled =
                evaluateTiles(context, attr, shape, packed, width, type, form,
                              IndirectReads::AsAsked, RowTables::Built);
            ASSERT_EQ(tabled.size(), vector.size());
            for (size_t i = 0; i < vector.size(); ++i)
              ASSERT_TRUE(sameValue(tabled[i], vector[i]))
                  << "weight " << i << ": with row tables " << tabled[i]
                  << ", without " << vector[i];
          }
        if (type.isF32())
          dense32 = vector;
        for (size_t i = 0; i < tile.size(); ++i) {
          if (!isOutlier[i]) {
            ASSERT_TRUE(sameValue(tile[i], vector[i]))
                << "weight " << i << ": tile " << tile[i] << ", vector "
                << vector[i];
          } else if (type.isF32()) {
            ASSERT_EQ(float(vector[i]) + residual[i], float(tile[i]))
                << "weight " << i;
          } else {
            APFloat rounded(float(dense32[i]));
            bool losesInfo = false;
            rounded.convert(type.getFloatSemantics(),
                            APFloat::rmNearestTiesToEven, &losesInfo);
            ASSERT_EQ(vector[i], rounded.convertToDouble()) << "weight " << i;
          }
        }
      }
    }
    expectFactorTimesUnscaledIsTile(attr, shape, packed, widths, isOutlier);
    for (int64_t step : {1, 2, 3})
      for (int64_t first = 0; first < step; ++first) {
        SCOPED_TRACE("sparse terms " + std::to_string(first) + " step " +
                     std::to_string(step));
        std::vector<double> dots = ::mixq::test::evaluateSparseDots(
            context, attr, shape, packed, first, step);
        if (outliers.empty() && dots.empty())
          continue;
        ASSERT_EQ(dots.size(), size_t(shape[0]));
        // The row's terms in storage order (a composed scheme's own first,
        // then its dense scheme's), summed in that order in f32.
        std::vector<float> expected(shape[0], 0.0f);
        std::vector<int64_t> rowIndex(shape[0], 0);
        int set = outliers.empty() ? 0 : outliers.back().set;
        for (int s2 = 0; s2 <= set; ++s2) {
          std::fill(rowIndex.begin(), rowIndex.end(), 0);
          std::vector<float> sums(shape[0], 0.0f);
          for (size_t e = 0; e < outliers.size(); ++e) {
            if (outliers[e].set != s2)
              continue;
            const Outlier &o = outliers[e];
            int64_t k = rowIndex[o.row]++;
            if (k >= first && (k - first) % step == 0)
              sums[o.row] += o.value * std::ldexp(1.0f, int(o.col) - 64);
          }
          for (int64_t r = 0; r < shape[0]; ++r)
            expected[r] = s2 == 0 ? sums[r] : expected[r] + sums[r];
        }
        for (int64_t r = 0; r < shape[0]; ++r)
          ASSERT_EQ(float(dots[r]), expected[r]) << "row " << r;
      }
  }

  /// For a scheme with scale factors (getScaleFactorColumns > 0), at each
  /// width inside one factor run and each result type: every unscaled
  /// weight is exact in the result type (it equals the f32 one), and its
  /// product with the tile's factor in f32 is the f32 tile's weight, bit
  /// for bit, but at sparse terms (where the unscaled dense part is what
  /// buildDequantVector leaves).
  void expectFactorTimesUnscaledIsTile(QuantSchemeAttrInterface attr,
                                       ArrayRef<int64_t> shape,
                                       const PackedWeights &packed,
                                       ArrayRef<int64_t> widths,
                                       const std::vector<bool> &isOutlier) {
    int64_t run = attr.getScaleFactorColumns(shape);
    if (run == 0)
      return;
    ASSERT_EQ(shape[1] % run, 0) << "factor runs must divide K";
    auto f32 = Float32Type::get(&context);
    for (int64_t width : widths) {
      if (run % width != 0)
        continue;
      SCOPED_TRACE("scale factors, width " + std::to_string(width));
      std::vector<double> factors = evaluateTiles(
          context, attr, shape, packed, width, f32, TileForm::ScaleFactor);
      std::vector<double> tile =
          evaluateTiles(context, attr, shape, packed, width, f32);
      std::vector<double> dense = evaluateTiles(context, attr, shape, packed,
                                                width, f32, TileForm::AnyOrder);
      std::vector<double> unscaled32 = evaluateTiles(
          context, attr, shape, packed, width, f32, TileForm::Unscaled);
      ASSERT_EQ(factors.size(), tile.size());
      ASSERT_EQ(unscaled32.size(), tile.size());
      for (size_t i = 0; i < tile.size(); ++i) {
        float product = float(unscaled32[i]) * float(factors[i]);
        ASSERT_TRUE(sameValue(product, isOutlier[i] ? dense[i] : tile[i]))
            << "weight " << i << ": " << unscaled32[i] << " * " << factors[i]
            << " = " << product << ", tile " << tile[i];
      }
      for (FloatType type : {FloatType(Float16Type::get(&context)),
                             FloatType(BFloat16Type::get(&context))}) {
        std::vector<double> unscaled = evaluateTiles(
            context, attr, shape, packed, width, type, TileForm::Unscaled);
        ASSERT_EQ(unscaled.size(), unscaled32.size());
        for (size_t i = 0; i < unscaled.size(); ++i)
          ASSERT_EQ(unscaled[i], unscaled32[i])
              << "weight " << i << " is not exact in " << debugString(type);
        expectUnbiasedIsUnscaled(attr, shape, packed, width, type, unscaled);
      }
    }
  }

  /// Where the scheme builds biased tiles (getDequantVectorBias), each
  /// element less its bias and the tile's zero is the unscaled weight,
  /// exactly, and the biases are exact in `type`.
  void expectUnbiasedIsUnscaled(QuantSchemeAttrInterface attr,
                                ArrayRef<int64_t> shape,
                                const PackedWeights &packed, int64_t width,
                                FloatType type,
                                const std::vector<double> &unscaled) {
    SmallVector<double> bias = getDequantVectorBias(attr, shape, width, type);
    if (bias.empty())
      return;
    ++biasedTilesChecked;
    for (double b : bias) {
      APFloat exact(b);
      bool losesInfo = false;
      exact.convert(type.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                    &losesInfo);
      ASSERT_FALSE(losesInfo) << "bias " << b << " is not exact";
    }
    std::vector<double> unbiased = evaluateTiles(context, attr, shape, packed,
                                                 width, type, TileForm::Biased);
    ASSERT_EQ(unbiased.size(), unscaled.size());
    for (size_t i = 0; i < unscaled.size(); ++i)
      ASSERT_EQ(unbiased[i], unscaled[i])
          << "weight " << i << ": biased less bias and zero " << unbiased[i]
          << ", unscaled " << unscaled[i];
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
  /// How many (width, type) pairs expectUnbiasedIsUnscaled compared.
  int biasedTilesChecked = 0;
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
  packed.push_back(toBytes(qt::packMatrix(codes.data(), rows, cols, bits)));
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
  // Biased tiles (f16 scales, whole words within a group): every code at 2
  // bits (32 columns), 4 and 8 bits (8 and 32), symmetric or not.
  EXPECT_EQ(biasedTilesChecked, 10);
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
  packed.push_back(toBytes(qt::packMatrix(codes.data(), rows, cols, 4)));
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

namespace {
/// A reader that has every row table and records the lookups, each entry
/// an i32 zero.
class CountingTableReader : public ComponentReader {
public:
  using ComponentReader::ComponentReader;
  bool hasRowTable(unsigned) const override { return true; }
  Value gatherRowTable(OpBuilder &b, Location loc, unsigned table, Value row,
                       Value entries) const override {
    auto type = cast<VectorType>(entries.getType());
    lookups += type.getNumElements();
    return arith::ConstantOp::create(b, loc, b.getZeroAttr(type));
  }
  mutable int64_t lookups = 0;
};

/// Emits `scheme`'s 32-weight tile of a 16 x 128 matrix in f16, then in
/// f32, through a reader that has every row table, and expects: the f16
/// tile all `lookups` table lookups and no gather, the f32 tile none and
/// `f32Gathers` gathers (a consumer builds f16 tables only).
void expectTableLookupsOnlyInF16(MLIRContext &context,
                                 QuantSchemeAttrInterface attr, int64_t lookups,
                                 int64_t f32Gathers = 1) {
  OpBuilder b(&context);
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());
  SmallVector<Value> components;
  for (const ComponentSpec &spec : attr.getComponents({16, 128}))
    components.push_back(
        arith::ConstantOp::create(b, loc, b.getZeroAttr(spec.getTensorType())));
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  auto countGathers = [&] {
    int64_t gathers = 0;
    module->walk([&](vector::GatherOp) { ++gathers; });
    return gathers;
  };
  CountingTableReader reader(components);
  Value tile = attr.buildDequantVector(b, loc, reader, {16, 128}, zero, zero,
                                       32, Float16Type::get(&context));
  EXPECT_EQ(tile.getType(), VectorType::get({32}, Float16Type::get(&context)));
  EXPECT_EQ(reader.lookups, lookups);
  EXPECT_EQ(countGathers(), 0);
  (void)attr.buildDequantVector(b, loc, reader, {16, 128}, zero, zero, 32,
                                Float32Type::get(&context));
  EXPECT_EQ(reader.lookups, lookups);
  EXPECT_EQ(countGathers(), f32Gathers);
}
} // namespace

// The test-only scheme's pair table (the same in every row, so a GEMV holds
// one copy): a row of 512 columns holds every pair of codes (c0, c1) once,
// at columns (2p, 2p + 1); with the table built, the unscaled tile is each
// code's e2m1 value, bit for bit (-0 for code 8), and the scaled tile the
// host dequantizer's value.
TEST_F(DequantVectorTest, TestSchemePairTableHoldsEveryPairOfCodes) {
  QuantSchemeAttrInterface attr = scheme("#mixq_test.fp4<group = 64>");
  const int64_t rows = 2, cols = 512;
  SmallVector<RowTableSpec> tables = attr.getRowTables({rows, cols});
  ASSERT_EQ(tables.size(), 2u);
  EXPECT_EQ(tables[1].entries, 256);
  EXPECT_TRUE(tables[1].elementType.isInteger(32));
  EXPECT_TRUE(tables[0].sameForEveryRow && tables[1].sameForEveryRow);
  const double e2m1[16] = {0.0,  0.5,  1.0,  1.5,  2.0,  3.0,  4.0,  6.0,
                           -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0};
  std::vector<uint8_t> codes(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      // Row 1 walks the pairs backwards, so rows differ per column.
      int64_t pair = r == 0 ? c / 2 : 255 - c / 2;
      codes[r * cols + c] = uint8_t(c % 2 == 0 ? pair % 16 : pair / 16);
    }
  PackedWeights packed;
  packed.push_back(toBytes(qt::packMatrix(codes.data(), rows, cols, 4)));
  PackedBuffer scales(rows * cols / 64 * 2);
  for (size_t g = 0; g < scales.size() / 2; ++g)
    qt::storeScalar(g % 3 ? 1.0f : 0.75f, qt::ScalarFormat::F16,
                    &scales[g * 2]);
  packed.push_back(scales);
  auto host = attr.dequantize(packed, {rows, cols});
  ASSERT_TRUE(!!host);
  for (int64_t width : {32, 64}) {
    SCOPED_TRACE("width " + std::to_string(width));
    std::vector<double> unscaled = evaluateTiles(
        context, attr, {rows, cols}, packed, width, Float16Type::get(&context),
        TileForm::Unscaled, IndirectReads::AsAsked, RowTables::Built);
    std::vector<double> scaled = evaluateTiles(
        context, attr, {rows, cols}, packed, width, Float16Type::get(&context),
        TileForm::Vector, IndirectReads::AsAsked, RowTables::Built);
    ASSERT_EQ(int64_t(unscaled.size()), rows * cols);
    ASSERT_EQ(int64_t(scaled.size()), rows * cols);
    for (int64_t i = 0; i < rows * cols; ++i) {
      ASSERT_TRUE(sameValue(unscaled[i], e2m1[codes[i]]))
          << "weight " << i << " (code " << int(codes[i])
          << "): " << unscaled[i];
      ASSERT_TRUE(sameValue(
          scaled[i], qt::roundToFormat((*host)[i], qt::ScalarFormat::F16)))
          << "weight " << i << ": " << scaled[i] << ", host " << (*host)[i];
    }
  }
  // The table path is the one taken: 16 lookups for 32 f16 weights (f32
  // tiles take the select chain, no gather).
  expectTableLookupsOnlyInF16(context, attr, 16, /*f32Gathers=*/0);
}

/// #mixq.outlier_cols components by hand, 4 x 128: every code of `bits`
/// bits at every position of a word in the quantized columns, the offset
/// 2^(bits-1) (a weight of 0) at outlier columns 3, 40 and 127, row scales
/// from a subnormal product to an f16 overflow.
PackedWeights handMadeOutlierCols(unsigned bits, int64_t rows, int64_t cols) {
  const std::vector<int32_t> outlierCols = {3, 40, 127};
  std::vector<uint8_t> codes(rows * cols);
  uint32_t levels = 1u << bits;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      codes[r * cols + c] =
          static_cast<uint8_t>((c * 7 + r * 5 + c / levels) % levels);
  for (int64_t r = 0; r < rows; ++r)
    for (int32_t c : outlierCols)
      codes[r * cols + c] = static_cast<uint8_t>(levels / 2);
  std::vector<uint16_t> outlierWeights, scales;
  for (int64_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < outlierCols.size(); ++j)
      outlierWeights.push_back(qt::floatToHalfBits(float(r) - 2.5f * j));
  const float rowScales[4] = {0.0123f, 3.0e-6f, 977.0f, 1.0f};
  for (int64_t r = 0; r < rows; ++r)
    scales.push_back(qt::floatToHalfBits(rowScales[r % 4]));
  std::vector<int16_t> colMap(cols, -1);
  for (size_t j = 0; j < outlierCols.size(); ++j)
    colMap[outlierCols[j]] = static_cast<int16_t>(j);
  PackedWeights packed;
  packed.push_back(toBytes(outlierCols));
  packed.push_back(toBytes(outlierWeights));
  packed.push_back(toBytes(qt::packMatrix(codes.data(), rows, cols, bits)));
  packed.push_back(toBytes(scales));
  packed.push_back(toBytes(std::vector<int32_t>(rows, 0))); // unread here
  packed.push_back(toBytes(colMap));
  return packed;
}

TEST_F(DequantVectorTest, OutlierColsWordsEqualTheTileForEveryCode) {
  // 128 columns: every 8-bit code, at 2^(c - 64) inputs the sparse sums
  // can check (TileEvaluation.h).
  const int64_t rows = 4, cols = 128;
  for (unsigned bits : {4u, 8u}) {
    std::string text =
        "#mixq.outlier_cols<cols = 3, bits = " + std::to_string(bits) + ">";
    SCOPED_TRACE(text);
    QuantSchemeAttrInterface attr = scheme(text);
    PackedWeights packed = handMadeOutlierCols(bits, rows, cols);
    auto host = attr.dequantize(packed, {rows, cols});
    ASSERT_TRUE(!!host) << llvm::toString(host.takeError());
    // 1 column: the scalar fallback; 8: whole words at 4 and 8 bits; 32
    // and 64: several words.
    expectVectorEqualsTile(attr, {rows, cols}, packed, {1, 8, 32, 64});
    // The tile, outliers and all, is the host dequantizer rounded to f16.
    std::vector<double> f16 =
        evaluateTiles(context, attr, {rows, cols}, packed, 32,
                      Float16Type::get(&context), TileForm::Scalars);
    for (size_t i = 0; i < host->size(); ++i)
      ASSERT_TRUE(sameValue(
          f16[i], qt::roundToFormat((*host)[i], qt::ScalarFormat::F16)))
          << "weight " << i;
  }
  // Biased tiles at 8, 32 and 64 columns (the run is the row), both widths.
  EXPECT_EQ(biasedTilesChecked, 6);
}

/// Bytes of a vector of little-endian values.
template <typename T> PackedBuffer bytesOf(const std::vector<T> &values) {
  PackedBuffer bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

/// The scheme of handMadeMixed's components.
constexpr const char *kHandMadeMixedScheme =
    "#mixq.mixed<group = 32, hi_frac = 0.5, bits = 0.0, outliers = "
    "0.0078125>";

/// #mixq.mixed components by hand, 2 x 128, group 32 (4 groups a row), one
/// block a row: high groups (0, 0), (0, 2), (1, 1), (1, 3) hold every 4-bit
/// code, low groups every 2-bit one; zero codes 0 .. 15 and scale codes 0,
/// 255 and between; row 1's block parameters make f16 scales subnormal.
/// Two outliers, one in a high group (the format allows it).
PackedWeights handMadeMixed() {
  const int64_t rows = 2, cols = 128, group = 32;
  const uint32_t map[2] = {0b0101, 0b1010};
  std::vector<uint8_t> low(rows * cols), extra;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < 4; ++g) {
      bool high = (map[r] >> g) & 1;
      for (int64_t i = 0; i < group; ++i) {
        int64_t c = g * group + i;
        if (!high) {
          low[r * cols + c] = static_cast<uint8_t>((c * 3 + r) % 4);
          continue;
        }
        auto code = static_cast<uint8_t>((c * 7 + r * 3 + c / 16) % 16);
        low[r * cols + c] = code >> 2;
        extra.push_back(code & 3);
      }
    }
  PackedWeights packed;
  packed.push_back(toBytes(qt::packMatrix(low.data(), rows, cols, 2)));
  // The four high groups' rows, then the low groups' row of zeros.
  extra.resize(extra.size() + group, 0);
  packed.push_back(toBytes(qt::packMatrix(extra.data(), 5, group, 2)));
  packed.push_back(bytesOf(std::vector<int32_t>{0, 2})); // high_group_start
  packed.push_back(bytesOf(std::vector<uint32_t>{map[0], map[1]}));
  packed.push_back(PackedBuffer{0, 255, 17, 128, 255, 3, 0, 200});
  const uint8_t zeros[8] = {0, 15, 7, 9, 15, 1, 8, 3};
  packed.push_back(toBytes(qt::packMatrix(zeros, rows, 4, 4)));
  PackedBuffer block(8);
  const float params[4] = {0.5f, 0.01f, 6.0e-5f, 3.0e-6f};
  for (int i = 0; i < 4; ++i)
    qt::storeScalar(params[i], qt::ScalarFormat::F16, &block[2 * i]);
  packed.push_back(block);
  packed.push_back(bytesOf(std::vector<int32_t>{0, 1, 2}));
  packed.push_back(bytesOf(std::vector<uint16_t>{5, 70}));
  PackedBuffer values(4);
  qt::storeScalar(0.75f, qt::ScalarFormat::F16, &values[0]);
  qt::storeScalar(-2.5f, qt::ScalarFormat::F16, &values[2]);
  packed.push_back(values);
  return packed;
}

TEST_F(DequantVectorTest, MixedWordsEqualTheTileForEveryCode) {
  const int64_t rows = 2, cols = 128;
  QuantSchemeAttrInterface attr = scheme(kHandMadeMixedScheme);
  PackedWeights packed = handMadeMixed();
  ASSERT_FALSE(!!checkPackedSizes(attr.getComponents({rows, cols}), packed));
  auto host = attr.dequantize(packed, {rows, cols});
  ASSERT_TRUE(!!host) << llvm::toString(host.takeError());
  // 8 columns: a quarter word of low codes, the scalar fallback; 32: one
  // tile per group (the f16x2 path for f16, f32 vectors for the others).
  expectVectorEqualsTile(attr, {rows, cols}, packed, {8, 32});
  // And the dense vector is the host's value less the outlier, rounded.
  std::vector<double> f16 =
      evaluateTiles(context, attr, {rows, cols}, packed, 32,
                    Float16Type::get(&context), TileForm::Vector);
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (i == 5 || i == cols + 70)
      continue;
    ASSERT_TRUE(
        sameValue(f16[i], qt::roundToFormat((*host)[i], qt::ScalarFormat::F16)))
        << "weight " << i << ": host " << (*host)[i];
  }
}

// The CUDA GEMV stages a tile's extra codes ahead from the row of
// high_codes buildIndirectRow names (a high group's own, the zero row for
// a low group) and serves the scheme's loads from that copy: the tiles
// must come out the same as when the scheme reads the rows it asks for.
TEST_F(DequantVectorTest, MixedExtraCodesFromTheirIndirectRows) {
  const int64_t rows = 2, cols = 128;
  QuantSchemeAttrInterface attr = scheme(kHandMadeMixedScheme);
  PackedWeights packed = handMadeMixed();
  auto specs = attr.getComponents({rows, cols});
  ASSERT_EQ(specs[1].name, "high_codes");
  EXPECT_EQ(specs[1].indirectColumns, 32);
  EXPECT_EQ(specs[1].shape[0], 5) << "four high groups and the zero row";
  for (FloatType type : {FloatType(Float16Type::get(&context)),
                         FloatType(Float32Type::get(&context))})
    for (TileForm form : {TileForm::Vector, TileForm::AnyOrder}) {
      std::vector<double> asked =
          evaluateTiles(context, attr, {rows, cols}, packed, 32, type, form);
      std::vector<double> staged =
          evaluateTiles(context, attr, {rows, cols}, packed, 32, type, form,
                        IndirectReads::Staged);
      ASSERT_EQ(asked.size(), size_t(rows * cols));
      for (int64_t i = 0; i < rows * cols; ++i)
        ASSERT_TRUE(sameValue(asked[i], staged[i]))
            << "weight " << i << ": " << asked[i] << " as asked, " << staged[i]
            << " staged";
    }
}

// Corrupt mixed components are errors naming the component, not reads out
// of bounds.
TEST_F(DequantVectorTest, MixedRejectsCorruptComponents) {
  const int64_t rows = 2, cols = 128;
  QuantSchemeAttrInterface attr = scheme(kHandMadeMixedScheme);
  auto expectError = [&](PackedWeights bad, StringRef component) {
    auto result = attr.dequantize(bad, {rows, cols});
    ASSERT_FALSE(!!result) << component.str();
    std::string message = llvm::toString(result.takeError());
    EXPECT_NE(message.find(component.str()), std::string::npos) << message;
  };
  PackedWeights good = handMadeMixed();
  ASSERT_TRUE(!!attr.dequantize(good, {rows, cols}));
  PackedWeights bad = good;
  bad[2][4] = 7; // high_group_start[1][0] = 7, not 2
  expectError(bad, "high_group_start");
  bad = good;
  bad[3][0] = 0xFF; // row 0's map marks groups 4 .. 7 of 4
  expectError(bad, "bit_map");
  bad = good;
  bad[3][0] = 0x07; // three high groups in row 0: 5 in all, high_codes has 4
  bad[2][4] = 3;
  expectError(bad, "high_codes");
  bad = good;
  bad[1][36] = 1; // the low groups' row of extra codes is not zeros
  expectError(bad, "the last row of high_codes");
  bad = good;
  bad[8][2] = 200; // row 1's outlier column 200 >= K
  expectError(bad, "outlier_col_idx");
  bad = good;
  bad[7][4] = 9; // outlier_row_ptr[1] past the outliers
  expectError(bad, "outlier_row_ptr");
}

// The test-only scheme's sparse terms (fp4 with `spike`: each row's
// largest weight keeps an fp16 residual) through buildSparseDot, as a
// scheme outside mixq writes them.
TEST_F(DequantVectorTest, TestSchemeSparseTermsAfterTheDotProduct) {
  const int64_t rows = 4, cols = 128;
  std::vector<float> w = qt::testing::heavyTailedMatrix(rows, cols, 31);
  w[2 * cols + 17] = 90.0f; // a spike fp4 cannot hold next to its group
  QuantSchemeAttrInterface attr =
      scheme("#mixq_test.fp4<group = 32, spike = true>");
  auto packed = attr.quantize(w, {rows, cols}, {});
  ASSERT_TRUE(!!packed) << llvm::toString(packed.takeError());
  auto host = attr.dequantize(*packed, {rows, cols});
  ASSERT_TRUE(!!host);
  // The spike is kept up to its fp16 residual's rounding.
  EXPECT_NEAR((*host)[2 * cols + 17], 90.0f, 0.05f);
  expectVectorEqualsTile(attr, {rows, cols}, *packed, {8, 32});
}

// bitplane's words: every decode width of a 2..4 and a 1..8 parent, tiles
// from 8 columns (inside a word, at a dynamic bit offset) to 64 (two words),
// and a K that is no multiple of 32 (the last word partly padding).
TEST_F(DequantVectorTest, BitplaneWordsEqualTheTileAtEveryWidth) {
  std::vector<float> w = qt::testing::heavyTailedMatrix(3, 128, 41);
  for (const char *text : {"#mixq.bitplane<seed = 2, parent = 4, width = 2>",
                           "#mixq.bitplane<seed = 2, parent = 4, width = 3>",
                           "#mixq.bitplane<seed = 2, parent = 4>"}) {
    SCOPED_TRACE(text);
    QuantSchemeAttrInterface attr = scheme(text);
    auto packed = attr.quantize(w, {3, 128}, {});
    ASSERT_TRUE(!!packed) << llvm::toString(packed.takeError());
    expectVectorEqualsTile(attr, {3, 128}, *packed, {8, 16, 32, 64});
  }
  for (const char *text : {"#mixq.bitplane<seed = 1, parent = 8, width = 5>",
                           "#mixq.bitplane<seed = 1, parent = 8>"}) {
    SCOPED_TRACE(text);
    QuantSchemeAttrInterface attr = scheme(text);
    auto packed = attr.quantize(w, {3, 128}, {});
    ASSERT_TRUE(!!packed) << llvm::toString(packed.takeError());
    expectVectorEqualsTile(attr, {3, 128}, *packed, {8, 16, 32});
  }
  std::vector<float> narrow(w.begin(), w.begin() + 3 * 72);
  QuantSchemeAttrInterface attr =
      scheme("#mixq.bitplane<seed = 2, parent = 4>");
  auto packed = attr.quantize(narrow, {3, 72}, {});
  ASSERT_TRUE(!!packed) << llvm::toString(packed.takeError());
  expectVectorEqualsTile(attr, {3, 72}, *packed, {8});
}

// lut's words: codes a word at a time (3-bit codes straddle words), one
// gather from the row's codebook, at every tile width from one word up.
TEST_F(DequantVectorTest, LUTWordsEqualTheTileAtEveryWidth) {
  std::vector<float> w = qt::testing::heavyTailedMatrix(3, 192, 43);
  for (auto [text, widths] :
       {std::pair{"#mixq.lut<bits = 2>", std::vector<int64_t>{16, 32, 64}},
        std::pair{"#mixq.lut<bits = 3>", std::vector<int64_t>{32, 64}},
        std::pair{"#mixq.lut<bits = 4>", std::vector<int64_t>{8, 16, 64}}}) {
    SCOPED_TRACE(text);
    QuantSchemeAttrInterface attr = scheme(text);
    auto packed = attr.quantize(w, {3, 192}, {});
    ASSERT_TRUE(!!packed) << llvm::toString(packed.takeError());
    expectVectorEqualsTile(attr, {3, 192}, *packed, widths);
  }
}

// lut's pair table at 2 and 3 bits: every pair of codes (c0, c1) of a row
// once, codebooks of distinct values (negative, subnormal, -0, the largest
// f16): with the table built, one lookup per pair gives both weights, bit
// for bit what the codebook gather gives and the host dequantizer's value.
TEST_F(DequantVectorTest, LUTPairTableHoldsEveryPairOfCodes) {
  for (unsigned bits : {2u, 3u}) {
    SCOPED_TRACE("bits " + std::to_string(bits));
    QuantSchemeAttrInterface attr =
        scheme("#mixq.lut<bits = " + std::to_string(bits) + ">");
    int64_t centroids = int64_t(1) << bits;
    int64_t rows = 2, cols = 2 * centroids * centroids; // every pair once
    SmallVector<RowTableSpec> tables = attr.getRowTables({rows, cols});
    ASSERT_EQ(tables.size(), 1u);
    EXPECT_EQ(tables[0].entries, centroids * centroids);
    EXPECT_TRUE(tables[0].elementType.isInteger(32));
    std::vector<uint8_t> codes(rows * cols);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t pair = 0; pair < centroids * centroids; ++pair) {
        // Row 1 walks the pairs backwards, so rows differ per column.
        int64_t p = r == 0 ? pair : centroids * centroids - 1 - pair;
        codes[r * cols + 2 * pair] = uint8_t(p % centroids);
        codes[r * cols + 2 * pair + 1] = uint8_t(p / centroids);
      }
    const uint16_t values[] = {0xBC00 /* -1 */, 0x0001 /* smallest */,
                               0x8000 /* -0 */, 0x7BFF /* 65504 */,
                               0x3555,          0xC800,
                               0x0400,          0x4248};
    std::vector<uint16_t> lut;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < centroids; ++c)
        lut.push_back(values[(c + r * 3) % 8]);
    PackedWeights packed = {
        toBytes(qt::packMatrix(codes.data(), rows, cols, bits)), toBytes(lut)};
    ASSERT_FALSE(!!checkPackedSizes(attr.getComponents({rows, cols}), packed));
    auto host = attr.dequantize(packed, {rows, cols});
    ASSERT_TRUE(!!host) << llvm::toString(host.takeError());
    for (int64_t width : bits == 2 ? std::vector<int64_t>{16, 32}
                                   : std::vector<int64_t>{32, 64}) {
      SCOPED_TRACE("width " + std::to_string(width));
      std::vector<double> tabled =
          evaluateTiles(context, attr, {rows, cols}, packed, width,
                        Float16Type::get(&context), TileForm::Vector,
                        IndirectReads::AsAsked, RowTables::Built);
      ASSERT_EQ(tabled.size(), host->size());
      for (int64_t i = 0; i < rows * cols; ++i)
        ASSERT_TRUE(sameValue(tabled[i], (*host)[i]))
            << "weight " << i << ": with the pair table " << tabled[i]
            << ", host " << (*host)[i];
    }
    expectVectorEqualsTile(attr, {rows, cols}, packed, {32});
  }
  // No table at 4 bits: 256 entries a row.
  EXPECT_TRUE(scheme("#mixq.lut<bits = 4>").getRowTables({2, 64}).empty());
}

// The table path is the one taken: a 32-weight f16 tile of 3-bit codes is
// 16 lookups, and no codebook gather is left; f32 tiles keep the gather.
TEST_F(DequantVectorTest, LUTLooksUpPairsWhenTheReaderHasTheTable) {
  expectTableLookupsOnlyInF16(context, scheme("#mixq.lut<bits = 3>"), 16);
}

// bitplane's pair table at decode widths 1 to 3: planes written by hand so
// that every pair of codes (c0, c1) lies at columns (2p, 2p + 1) of a row,
// codebooks of distinct values (negative, subnormal, -0, the largest f16):
// with the table built, a 32- or 64-weight tile is one lookup per pair, and
// each weight is its code's codebook value, bit for bit. No table at width
// 4 (256 entries, 1 KiB a row).
TEST_F(DequantVectorTest, BitplanePairTableHoldsEveryPairOfCodes) {
  const uint16_t values[] = {0xBC00 /* -1 */, 0x0001 /* smallest */,
                             0x8000 /* -0 */, 0x7BFF /* 65504 */,
                             0x3555,          0xC800,
                             0x0400,          0x4248};
  for (unsigned width : {1u, 2u, 3u}) {
    SCOPED_TRACE("width " + std::to_string(width));
    QuantSchemeAttrInterface attr = scheme(
        "#mixq.bitplane<seed = 1, parent = " + std::to_string(width) + ">");
    int64_t centroids = int64_t(1) << width, pairs = centroids * centroids;
    int64_t rows = 2, cols = std::max<int64_t>(64, 2 * pairs);
    SmallVector<RowTableSpec> tables = attr.getRowTables({rows, cols});
    ASSERT_EQ(tables.size(), 1u);
    // Padded to 64 entries (256 bytes a row) for the byte permutes.
    EXPECT_EQ(tables[0].entries, std::max<int64_t>(pairs, 64));
    EXPECT_TRUE(tables[0].elementType.isInteger(32));
    std::vector<uint32_t> codes(rows * cols);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        // Row 1 walks the pairs backwards, so rows differ per column.
        int64_t pair = (c / 2) % pairs;
        int64_t p = r == 0 ? pair : pairs - 1 - pair;
        codes[r * cols + c] =
            uint32_t(c % 2 == 0 ? p % centroids : p / centroids);
      }
    // Plane j holds bit width - 1 - j of every code, LSB-first in words.
    int64_t words = cols / 32;
    PackedWeights packed;
    for (unsigned j = 0; j < width; ++j) {
      std::vector<uint32_t> plane(rows * words, 0);
      for (int64_t i = 0; i < rows * cols; ++i)
        plane[i / 32] |= ((codes[i] >> (width - 1 - j)) & 1u) << (i % 32);
      packed.push_back(toBytes(plane));
    }
    std::vector<uint16_t> lut;
    for (unsigned b = 1; b <= width; ++b) {
      lut.clear();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < (int64_t(1) << b); ++c)
          lut.push_back(values[(c + r * 3) % 8]);
      packed.push_back(toBytes(lut));
    }
    ASSERT_FALSE(!!checkPackedSizes(attr.getComponents({rows, cols}), packed));
    for (int64_t tileCols : {32, 64}) {
      SCOPED_TRACE("tile " + std::to_string(tileCols));
      std::vector<double> tabled =
          evaluateTiles(context, attr, {rows, cols}, packed, tileCols,
                        Float16Type::get(&context), TileForm::Vector,
                        IndirectReads::AsAsked, RowTables::Built);
      ASSERT_EQ(int64_t(tabled.size()), rows * cols);
      for (int64_t i = 0; i < rows * cols; ++i) {
        uint16_t bits = lut[(i / cols) * centroids + codes[i]];
        APFloat expected(APFloat::IEEEhalf(), APInt(16, bits));
        ASSERT_TRUE(sameValue(tabled[i], expected.convertToDouble()))
            << "weight " << i << " (code " << codes[i] << "): " << tabled[i];
      }
    }
  }
  EXPECT_TRUE(scheme("#mixq.bitplane<seed = 2, parent = 4>")
                  .getRowTables({2, 64})
                  .empty());
  // The table path is the one taken: a 32-weight f16 tile at width 3 is 16
  // lookups, and no codebook gather is left; f32 tiles keep the gather.
  expectTableLookupsOnlyInF16(
      context, scheme("#mixq.bitplane<seed = 2, parent = 4, width = 3>"), 16);
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
        "#mixq.sparse<#mixq.lut<bits = 3>, frac = 0.02>",
        "#mixq.sparse<#mixq.mixed<group = 32>, frac = 0.02>",
        // No high group (an empty high_codes), 1/2 bits (the f16x2 path at
        // other widths), 2/3 bits (the f32 path rounded to f16).
        "#mixq.mixed<group = 32, hi_frac = 0.0, bits = 0.0>",
        "#mixq.mixed<group = 32, lo = 1, hi = 2, hi_frac = 0.3>",
        "#mixq.mixed<group = 32, lo = 2, hi = 3, hi_frac = 0.3>",
        // The kernels' 64-column tiles of mixed (one group a tile).
        "#mixq.mixed<group = 64>",
        // QUIK: fp16 columns after the dot product, alone and under
        // #mixq.sparse (two sets of sparse terms); none at cols = 0.
        "#mixq.outlier_cols<cols = 5, bits = 4>",
        "#mixq.outlier_cols<cols = 5, bits = 8, act_bits = 8>",
        "#mixq.outlier_cols<cols = 0, bits = 4>",
        "#mixq.sparse<#mixq.outlier_cols<cols = 5, bits = 4>, frac = 0.02>"}) {
    SCOPED_TRACE(text);
    QuantSchemeAttrInterface attr = scheme(text);
    auto packed = attr.quantize(w, {rows, cols}, {});
    ASSERT_TRUE(!!packed) << llvm::toString(packed.takeError());
    expectVectorEqualsTile(attr, {rows, cols}, *packed, {8, 32, 64});
  }
}

} // namespace

namespace {
TEST_F(DequantVectorTest, WhichSchemesBuildScaleFactors) {
  auto f16 = Float16Type::get(&context);
  auto builds = [&](StringRef text, int64_t width) {
    return buildsScaleFactors(scheme(text), {16, 256}, width, f16);
  };
  // A group's scale (affine, mixed), the whole row's (QUIK), the test
  // scheme's group scale, and the dense scheme's under #mixq.sparse.
  EXPECT_TRUE(builds("#mixq.affine<bits = 4, group = 128>", 32));
  EXPECT_TRUE(builds("#mixq.mixed<group = 64>", 64));
  EXPECT_TRUE(builds("#mixq.mixed<group = 32, lo = 3, hi = 8>", 32));
  EXPECT_TRUE(builds("#mixq.outlier_cols<cols = 8, bits = 4>", 32));
  EXPECT_TRUE(builds("#mixq_test.fp4<group = 64>", 32));
  EXPECT_TRUE(builds(
      "#mixq.sparse<#mixq.affine<bits = 4, group = 64>, frac = 0.01>", 32));
  // No factor: lut and bitplane look values up.
  EXPECT_FALSE(builds("#mixq.lut<bits = 3>", 32));
  EXPECT_FALSE(builds("#mixq.bitplane<seed = 2, parent = 4>", 32));
  EXPECT_FALSE(builds("#mixq.sparse<#mixq.lut<bits = 3>, frac = 0.01>", 32));
}

// Biased tiles: affine and QUIK codes as 2^(10 - k) + q, k the code's
// offset in its byte (4-bit codes: pairs at offsets 0 and 4 in turn), where
// the unscaled tile is f16 pairs of whole words; not in bf16, not for 3-bit
// streams, not across groups, not for mixed or the test scheme.
TEST_F(DequantVectorTest, WhichSchemesBuildBiasedTiles) {
  auto f16 = Float16Type::get(&context);
  auto bias = [&](StringRef text, int64_t width, FloatType type) {
    return getDequantVectorBias(scheme(text), {16, 256}, width, type);
  };
  SmallVector<double> fourBits =
      bias("#mixq.affine<bits = 4, group = 128>", 8, f16);
  EXPECT_EQ(fourBits,
            SmallVector<double>({1024, 1024, 64, 64, 1024, 1024, 64, 64}));
  EXPECT_EQ(bias("#mixq.outlier_cols<cols = 8, bits = 8>", 8, f16),
            SmallVector<double>(8, 1024));
  EXPECT_EQ(bias("#mixq.affine<bits = 2, group = 64>", 16, f16),
            SmallVector<double>({1024, 1024, 256, 256, 64, 64, 16, 16, 1024,
                                 1024, 256, 256, 64, 64, 16, 16}));
  EXPECT_EQ(bias("#mixq.sparse<#mixq.affine<bits = 4, group = 64>, "
                 "frac = 0.01>",
                 8, f16),
            fourBits);
  EXPECT_TRUE(bias("#mixq.affine<bits = 4, group = 128>", 32,
                   BFloat16Type::get(&context))
                  .empty());
  EXPECT_TRUE(bias("#mixq.affine<bits = 4, group = 128, scale = f32>", 32, f16)
                  .empty());
  EXPECT_TRUE(bias("#mixq.affine<bits = 3, group = 64>", 32, f16).empty());
  EXPECT_TRUE(bias("#mixq.affine<bits = 4, group = 32>", 64, f16).empty());
  EXPECT_TRUE(bias("#mixq.mixed<group = 64>", 64, f16).empty());
  EXPECT_TRUE(bias("#mixq_test.fp4<group = 64>", 32, f16).empty());
}
} // namespace

namespace {
// 3-bit affine codes straddle words; in f16 with f16 scales a tile of whole
// blocks of 8 codes comes in pairs (i, i + 4) of each block, 12 bits apart
// in the stream (buildCenteredStreamCodePairs); its values are checked with
// every code by AffineWordsEqualTheTileForEveryCode. Other tiles keep
// column order.
TEST_F(DequantVectorTest, ThreeBitAffineTilesComeInStreamPairs) {
  auto f16 = Float16Type::get(&context);
  auto f32 = Float32Type::get(&context);
  QuantSchemeAttrInterface affine3 =
      scheme("#mixq.affine<bits = 3, group = 64>");
  SmallVector<int64_t> pairs = {0,  4,  1,  5,  2,  6,  3,  7,  8,  12, 9,
                                13, 10, 14, 11, 15, 16, 20, 17, 21, 18, 22,
                                19, 23, 24, 28, 25, 29, 26, 30, 27, 31};
  for (bool unscaled : {false, true})
    EXPECT_EQ(getDequantVectorOrder(affine3, {16, 256}, 32, f16, unscaled),
              pairs);
  SmallVector<int64_t> columns(32);
  std::iota(columns.begin(), columns.end(), 0);
  // f32 results: the f32 formula in column order.
  EXPECT_EQ(getDequantVectorOrder(affine3, {16, 256}, 32, f32, false), columns);
  // bf16 scales: no f16 pairs.
  EXPECT_EQ(getDequantVectorOrder(
                scheme("#mixq.affine<bits = 3, group = 64, scale = bf16>"),
                {16, 256}, 32, f16, false),
            columns);
}
} // namespace
