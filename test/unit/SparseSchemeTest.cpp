//===- SparseSchemeTest.cpp - #mixq.sparse through the interface ----------===//
//
// Properties of the dense-and-sparse composition, for several dense schemes,
// through QuantSchemeAttrInterface only:
//   * the bits per weight are the byte size of the stored buffers;
//   * dense + sparse reconstructs every outlier up to the fp16 rounding of
//     its residual, and every other weight exactly as the dense scheme does;
//   * the IR of buildDequantTile computes the host dequantization, for tiles
//     of 1, 2, 4 and 8 columns (evaluated by constant folding: the
//     components are constants, loops are unrolled and folded away).
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/MixQDialect.h"
#include "quant/FloatFormats.h"
#include "quant/SparseOutliers.h"
#include "test/unit/QuantTestUtil.h"
#include "test/unit/TileEvaluation.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

using namespace mlir;
using namespace mlir::mixq;
namespace qt = ::mixq::quant;
using ::mixq::test::evaluateTiles;

namespace {

class SparseSchemeTest : public ::testing::Test {
protected:
  SparseSchemeTest() {
    context.loadDialect<MixQDialect, arith::ArithDialect, func::FuncDialect,
                        math::MathDialect, scf::SCFDialect,
                        tensor::TensorDialect>();
  }

  Attribute parse(StringRef text) {
    Attribute attr = parseAttribute(text, &context);
    EXPECT_TRUE(attr) << text.str();
    return attr;
  }
  SparseSchemeAttr sparse(StringRef text) {
    return cast<SparseSchemeAttr>(parse(text));
  }

  MLIRContext context;
};

/// Half an fp16 ulp of `residual` (its rounding error bound) plus one f32
/// ulp of `total` (the final addition).
float residualTolerance(float residual, float total) {
  uint16_t bits = qt::floatToHalfBits(residual) & 0x7FFF;
  float ulp = qt::halfBitsToFloat(static_cast<uint16_t>(bits + 1)) -
              qt::halfBitsToFloat(bits);
  return ulp / 2 + std::fabs(total) * std::ldexp(1.0f, -23);
}

/// The CSR of packed sparse weights: (row, col) -> entry index.
struct CSRView {
  std::vector<int32_t> rowPtr;
  std::vector<int64_t> cols;
  std::vector<float> values;
};

CSRView readCSR(const PackedWeights &packed, unsigned numDense, int64_t rows,
                int64_t cols) {
  CSRView csr;
  csr.rowPtr.resize(rows + 1);
  std::memcpy(csr.rowPtr.data(), packed[numDense].data(),
              csr.rowPtr.size() * 4);
  unsigned width = qt::sparseColIndexBytes(cols);
  const PackedBuffer &colBytes = packed[numDense + 1];
  const PackedBuffer &valueBytes = packed[numDense + 2];
  for (size_t i = 0; i * width < colBytes.size(); ++i) {
    int64_t c = 0;
    for (unsigned b = 0; b < width; ++b)
      c |= int64_t(colBytes[i * width + b]) << (8 * b);
    csr.cols.push_back(c);
    uint16_t half;
    std::memcpy(&half, &valueBytes[2 * i], 2);
    csr.values.push_back(qt::halfBitsToFloat(half));
  }
  return csr;
}

PackedWeights densePart(const PackedWeights &packed, unsigned numDense) {
  return PackedWeights(packed.begin(), packed.begin() + numDense);
}

TEST_F(SparseSchemeTest, ComponentsAreTheDenseOnesThenTheCSR) {
  SparseSchemeAttr scheme =
      sparse("#mixq.sparse<#mixq.lut<bits = 3>, frac = 0.01>");
  SmallVector<int64_t> shape = {16, 300};
  SmallVector<ComponentSpec> components = scheme.getComponents(shape);
  ASSERT_EQ(components.size(), 5u);
  EXPECT_EQ(components[0].name, "dense_codes");
  EXPECT_EQ(components[1].name, "dense_lut");
  EXPECT_EQ(components[2].name, "outlier_row_ptr");
  EXPECT_EQ(components[3].name, "outlier_col_idx");
  EXPECT_EQ(components[4].name, "outlier_values");
  // nnz = round(0.01 * 4800) = 48.
  EXPECT_EQ(scheme.getNumOutliers(shape), 48);
  EXPECT_EQ(components[2].shape, (SmallVector<int64_t, 2>{17}));
  EXPECT_EQ(components[3].shape, (SmallVector<int64_t, 2>{48}));
  EXPECT_TRUE(components[3].elementType.isInteger(16));
  EXPECT_TRUE(components[4].elementType.isF16());
  // dense (lut: 16 x 29 words + 16 x 8 halves) + 17 i32 + 48 (i16 + f16).
  double expected =
      (16 * 29 * 32 + 16 * 8 * 16 + 17 * 32 + 48 * 32) / (16.0 * 300);
  EXPECT_DOUBLE_EQ(scheme.getBitsPerWeight(shape), expected);
  // Names stay unique when the dense scheme has outliers of its own.
  SmallVector<int64_t> mixedShape = {8, 128};
  std::set<std::string> names;
  for (const ComponentSpec &c :
       sparse("#mixq.sparse<#mixq.mixed<group = 64>, frac = 0.01>")
           .getComponents(mixedShape))
    EXPECT_TRUE(names.insert(c.name).second) << c.name;
  // K > 65536: i32 column indices.
  SmallVector<int64_t> wide = {2, 70000};
  EXPECT_TRUE(scheme.getComponents(wide)[3].elementType.isInteger(32));
}

/// Dense schemes the properties are checked with (K = 256 fits them all).
const char *const kDenseSchemes[] = {
    "#mixq.lut<bits = 3>",
    "#mixq.lut<bits = 2>",
    "#mixq.affine<bits = 4, group = 64>",
    "#mixq.affine<bits = 3, group = 32, symmetric = true, scale = bf16>",
    "#mixq.mixed<group = 64>",
    "#mixq.bitplane<seed = 2, parent = 4, width = 3>",
};

TEST_F(SparseSchemeTest, DenseAndSparseReconstructsTheOutliers) {
  const int64_t rows = 24, cols = 256;
  SmallVector<int64_t> shape = {rows, cols};
  std::vector<float> w = qt::testing::heavyTailedMatrix(rows, cols, 11);
  for (const char *denseText : kDenseSchemes) {
    for (const char *select : {"magnitude", "iqr"}) {
      std::string text = std::string("#mixq.sparse<") + denseText +
                         ", frac = 0.02, select = " + select + ">";
      SCOPED_TRACE(text);
      SparseSchemeAttr scheme = sparse(text);
      QuantSchemeAttrInterface dense = scheme.getDenseScheme();
      auto packed = scheme.quantize(w, shape, {});
      ASSERT_TRUE(!!packed) << llvm::toString(packed.takeError());

      // Bits per weight = bytes actually stored.
      size_t bytes = 0;
      for (const PackedBuffer &buffer : *packed)
        bytes += buffer.size();
      EXPECT_DOUBLE_EQ(scheme.getBitsPerWeight(shape),
                       8.0 * double(bytes) / double(rows * cols));

      auto full = scheme.dequantize(*packed, shape);
      ASSERT_TRUE(!!full) << llvm::toString(full.takeError());
      unsigned numDense = scheme.getNumDenseComponents(shape);
      auto denseOnly = dense.dequantize(densePart(*packed, numDense), shape);
      ASSERT_TRUE(!!denseOnly) << llvm::toString(denseOnly.takeError());

      CSRView csr = readCSR(*packed, numDense, rows, cols);
      ASSERT_EQ(int64_t(csr.cols.size()), scheme.getNumOutliers(shape));
      EXPECT_EQ(csr.rowPtr.front(), 0);
      EXPECT_EQ(csr.rowPtr.back(), int32_t(csr.cols.size()));
      std::vector<char> isOutlier(rows * cols, 0);
      for (int64_t r = 0; r < rows; ++r)
        for (int32_t i = csr.rowPtr[r]; i < csr.rowPtr[r + 1]; ++i) {
          if (i > csr.rowPtr[r])
            EXPECT_LT(csr.cols[i - 1], csr.cols[i]);
          int64_t at = r * cols + csr.cols[i];
          isOutlier[at] = 1;
          // The stored value is fp16(w - dense'), and dense + sparse gives w
          // up to its rounding.
          float residual = w[at] - (*denseOnly)[at];
          EXPECT_EQ(csr.values[i],
                    qt::halfBitsToFloat(qt::floatToHalfBits(residual)));
          EXPECT_NEAR((*full)[at], w[at], residualTolerance(residual, w[at]))
              << "outlier (" << r << ", " << csr.cols[i] << ")";
        }
      for (int64_t i = 0; i < rows * cols; ++i)
        if (!isOutlier[i])
          ASSERT_EQ((*full)[i], (*denseOnly)[i]) << "weight " << i;

      // Magnitude selection keeps the largest |w|: none of the others is
      // larger than the smallest kept one.
      if (std::string(select) == "magnitude") {
        float smallestKept = INFINITY, largestOther = 0;
        for (int64_t i = 0; i < rows * cols; ++i) {
          if (isOutlier[i])
            smallestKept = std::min(smallestKept, std::fabs(w[i]));
          else
            largestOther = std::max(largestOther, std::fabs(w[i]));
        }
        EXPECT_GE(smallestKept, largestOther);
      }
    }
  }
}

TEST_F(SparseSchemeTest, OutliersLowerTheErrorOfTheDenseScheme) {
  const int64_t rows = 32, cols = 256;
  SmallVector<int64_t> shape = {rows, cols};
  std::vector<float> w = qt::testing::heavyTailedMatrix(rows, cols, 3);
  for (const char *denseText : kDenseSchemes) {
    SCOPED_TRACE(denseText);
    auto dense = cast<QuantSchemeAttrInterface>(parse(denseText));
    SparseSchemeAttr scheme = SparseSchemeAttr::get(dense, 0.01);
    auto denseQ = dense.quantize(w, shape, {});
    auto sparseQ = scheme.quantize(w, shape, {});
    ASSERT_TRUE(denseQ && sparseQ);
    auto denseW = dense.dequantize(*denseQ, shape);
    auto sparseW = scheme.dequantize(*sparseQ, shape);
    ASSERT_TRUE(denseW && sparseW);
    double denseError = qt::testing::relativeError(w, *denseW);
    double sparseError = qt::testing::relativeError(w, *sparseW);
    EXPECT_LT(sparseError, denseError);
  }
}

TEST_F(SparseSchemeTest, SensitivitySelectsByOutputError) {
  // 4 x 64, nnz = round(1 / 256 * 256) = 1. Column 7 carries moderate
  // weights but a huge E[x^2]; (2, 40) is the largest |w|.
  const int64_t rows = 4, cols = 64;
  SmallVector<int64_t> shape = {rows, cols};
  std::vector<float> w(rows * cols);
  for (int64_t i = 0; i < rows * cols; ++i)
    w[i] = 0.01f * float(i % 13) - 0.06f;
  w[1 * cols + 7] = 0.5f;
  w[2 * cols + 40] = 2.0f;
  std::vector<float> sensitivity(cols, 1.0f);
  sensitivity[7] = 10000.0f;
  QuantizeOptions options;
  options.inputSensitivity = sensitivity;
  auto column = [&](StringRef text, const QuantizeOptions &opts) {
    SparseSchemeAttr scheme = sparse(text);
    auto packed = scheme.quantize(w, shape, opts);
    EXPECT_TRUE(!!packed);
    CSRView csr =
        readCSR(*packed, scheme.getNumDenseComponents(shape), rows, cols);
    EXPECT_EQ(csr.cols.size(), 1u);
    int64_t row = 0;
    while (csr.rowPtr[row + 1] == 0)
      ++row;
    return std::make_pair(row, csr.cols[0]);
  };
  const char *bySensitivity = "#mixq.sparse<#mixq.lut<bits = 2>, frac = "
                              "0.00390625, select = sensitivity>";
  EXPECT_EQ(column(bySensitivity, options),
            std::make_pair(int64_t(1), int64_t(7)));
  // Without statistics, sensitivity is magnitude.
  EXPECT_EQ(column(bySensitivity, {}), std::make_pair(int64_t(2), int64_t(40)));
  EXPECT_EQ(
      column("#mixq.sparse<#mixq.lut<bits = 2>, frac = 0.00390625>", options),
      std::make_pair(int64_t(2), int64_t(40)));
  // Statistics of the wrong size are an error, not a crash.
  std::vector<float> tooShort(cols - 1, 1.0f);
  QuantizeOptions bad;
  bad.inputSensitivity = tooShort;
  auto packed = sparse(bySensitivity).quantize(w, shape, bad);
  ASSERT_FALSE(!!packed);
  EXPECT_NE(llvm::toString(packed.takeError()).find("sparse"),
            std::string::npos);
}

TEST_F(SparseSchemeTest, IQRPadsToTheFixedCountWithTheLargestResiduals) {
  // A matrix with no IQR outliers at all: every slot is padding, filled
  // with the largest |w - dense'|.
  const int64_t rows = 8, cols = 64;
  SmallVector<int64_t> shape = {rows, cols};
  std::vector<float> w(rows * cols);
  for (int64_t i = 0; i < rows * cols; ++i)
    w[i] = std::sin(0.37f * float(i));
  SparseSchemeAttr scheme =
      sparse("#mixq.sparse<#mixq.lut<bits = 2>, frac = 0.05, select = iqr>");
  auto packed = scheme.quantize(w, shape, {});
  ASSERT_TRUE(!!packed);
  unsigned numDense = scheme.getNumDenseComponents(shape);
  CSRView csr = readCSR(*packed, numDense, rows, cols);
  ASSERT_EQ(int64_t(csr.cols.size()), scheme.getNumOutliers(shape));
  auto dense =
      scheme.getDenseScheme().dequantize(densePart(*packed, numDense), shape);
  ASSERT_TRUE(!!dense);
  std::vector<char> kept(rows * cols, 0);
  float smallestKept = INFINITY;
  for (int64_t r = 0; r < rows; ++r)
    for (int32_t i = csr.rowPtr[r]; i < csr.rowPtr[r + 1]; ++i) {
      int64_t at = r * cols + csr.cols[i];
      kept[at] = 1;
      smallestKept = std::min(smallestKept, std::fabs(w[at] - (*dense)[at]));
    }
  for (int64_t i = 0; i < rows * cols; ++i)
    if (!kept[i])
      EXPECT_LE(std::fabs(w[i] - (*dense)[i]), smallestKept);
}

TEST_F(SparseSchemeTest, DequantizeRejectsACorruptCSR) {
  const int64_t rows = 4, cols = 32;
  SmallVector<int64_t> shape = {rows, cols};
  std::vector<float> w = qt::testing::heavyTailedMatrix(rows, cols, 5);
  SparseSchemeAttr scheme =
      sparse("#mixq.sparse<#mixq.lut<bits = 2>, frac = 0.05>");
  auto packed = scheme.quantize(w, shape, {});
  ASSERT_TRUE(!!packed);
  unsigned numDense = scheme.getNumDenseComponents(shape);
  {
    PackedWeights bad = *packed;
    bad[numDense + 1][0] = 0xFF; // column 0x..FF >= K
    bad[numDense + 1][1] = 0x00;
    auto result = scheme.dequantize(bad, shape);
    ASSERT_FALSE(!!result);
    EXPECT_NE(llvm::toString(result.takeError()).find("outlier_col_idx"),
              std::string::npos);
  }
  {
    PackedWeights bad = *packed;
    int32_t big = 1000;
    std::memcpy(bad[numDense].data() + 4, &big, 4);
    auto result = scheme.dequantize(bad, shape);
    ASSERT_FALSE(!!result);
    EXPECT_NE(llvm::toString(result.takeError()).find("outlier_row_ptr"),
              std::string::npos);
  }
  {
    PackedWeights bad = *packed;
    bad.pop_back();
    EXPECT_FALSE(!!scheme.dequantize(bad, shape));
    llvm::consumeError(scheme.dequantize(bad, shape).takeError());
  }
}

TEST_F(SparseSchemeTest, DequantTileMatchesTheHostForEveryTileWidth) {
  const int64_t rows = 3, cols = 64;
  SmallVector<int64_t> shape = {rows, cols};
  std::vector<float> w = qt::testing::heavyTailedMatrix(rows, cols, 9);
  // Outliers in adjacent columns of one tile, at a tile's first and last
  // column, and at the matrix's last column.
  w[0 * cols + 4] = 50.0f;
  w[0 * cols + 5] = -40.0f;
  w[1 * cols + 8] = 30.0f;
  w[1 * cols + 15] = -35.0f;
  w[2 * cols + 63] = 45.0f;
  for (const char *text :
       {"#mixq.sparse<#mixq.lut<bits = 3>, frac = 0.03>",
        "#mixq.sparse<#mixq.affine<bits = 4, group = 32>, frac = 0.03>",
        "#mixq.sparse<#mixq.mixed<group = 64, hi_frac = 0.34>, frac = 0.03>"}) {
    SCOPED_TRACE(text);
    SparseSchemeAttr scheme = sparse(text);
    auto packed = scheme.quantize(w, shape, {});
    ASSERT_TRUE(!!packed);
    auto host = scheme.dequantize(*packed, shape);
    ASSERT_TRUE(!!host);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c : {4, 5, 8, 15, 63})
        if (w[r * cols + c] > 20.0f || w[r * cols + c] < -20.0f)
          EXPECT_NEAR((*host)[r * cols + c], w[r * cols + c], 0.02);
    for (int64_t tileCols : {1, 2, 4, 8}) {
      SCOPED_TRACE("tileCols = " + std::to_string(tileCols));
      std::vector<double> f32 =
          evaluateTiles(context, scheme, shape, *packed, tileCols,
                        Float32Type::get(&context));
      std::vector<double> f16 =
          evaluateTiles(context, scheme, shape, *packed, tileCols,
                        Float16Type::get(&context));
      ASSERT_EQ(f32.size(), host->size());
      for (size_t i = 0; i < host->size(); ++i) {
        ASSERT_EQ(f32[i], double((*host)[i])) << "weight " << i;
        // f16: the f32 sum rounded once.
        ASSERT_EQ(f16[i],
                  double(qt::halfBitsToFloat(qt::floatToHalfBits((*host)[i]))))
            << "weight " << i;
      }
    }
  }
}

} // namespace
