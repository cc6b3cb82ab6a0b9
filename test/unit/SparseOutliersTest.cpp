//===- SparseOutliersTest.cpp - dense-and-sparse outliers -----------------===//
#include "quant/SparseOutliers.h"
#include "quant/AffineQuantizer.h"
#include "quant/FloatFormats.h"
#include "quant/LUTQuantizer.h"
#include "test/unit/QuantTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mixq::quant;
using namespace mixq::quant::testing;

namespace {

/// Half an fp16 ulp of `value` (the fp16 rounding error bound), plus one
/// f32 ulp of `total` for the final addition.
float residualTolerance(float value, float total) {
  uint16_t bits = floatToHalfBits(value) & 0x7FFF;
  float ulp =
      halfBitsToFloat(static_cast<uint16_t>(bits + 1)) - halfBitsToFloat(bits);
  return ulp / 2 + std::fabs(total) * std::ldexp(1.0f, -23);
}

TEST(SparseOutliersTest, MagnitudeSelectionByHand) {
  // 2 x 4, fraction 0.25 -> round(0.25 * 8) = 2 outliers: |-9| and |7|.
  const float w[8] = {1, -9, 2, 0.5f, 7, 3, -2, 1};
  SparseParams p;
  p.fraction = 0.25;
  OutlierPattern pattern = selectOutliers(w, 2, 4, p);
  EXPECT_EQ(pattern.rowPtr, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(pattern.cols, (std::vector<int32_t>{1, 0}));
}

TEST(SparseOutliersTest, TiesGoToTheLowerIndex) {
  // Eight equal keys, three wanted: the first three in row-major order;
  // negative keys are never candidates.
  std::vector<float> keys(8, 1.0f);
  keys[0] = -1.0f;
  OutlierPattern pattern = selectLargest(keys.data(), 2, 4, 3);
  EXPECT_EQ(pattern.rowPtr, (std::vector<int32_t>{0, 3, 3}));
  EXPECT_EQ(pattern.cols, (std::vector<int32_t>{1, 2, 3}));
  // More wanted than candidates: all 7.
  EXPECT_EQ(selectLargest(keys.data(), 2, 4, 100).size(), 7);
  EXPECT_EQ(selectLargest(keys.data(), 2, 4, 0).size(), 0);
}

TEST(SparseOutliersTest, SelectLargestMatchesSorting) {
  // Keys with many exact repeats, so the threshold has ties.
  const int64_t rows = 37, cols = 53;
  std::mt19937 rng(5);
  std::vector<float> keys(rows * cols);
  for (float &k : keys)
    k = static_cast<float>(rng() % 100) / 8.0f;
  for (int64_t count : {1, 10, 100, 1000}) {
    OutlierPattern pattern = selectLargest(keys.data(), rows, cols, count);
    std::vector<int64_t> order(rows * cols);
    for (int64_t i = 0; i < rows * cols; ++i)
      order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return keys[a] > keys[b]; });
    order.resize(count);
    std::sort(order.begin(), order.end());
    std::vector<int64_t> got;
    for (int64_t r = 0; r < rows; ++r)
      for (int32_t i = pattern.rowPtr[r]; i < pattern.rowPtr[r + 1]; ++i)
        got.push_back(r * cols + pattern.cols[i]);
    EXPECT_EQ(got, order) << "count " << count;
  }
}

TEST(SparseOutliersTest, SensitivitySelectionByHand) {
  // Keys |w| sqrt(h) = {1 * 4, 2 * 1, 3 * 1, 4 * 0} = {4, 2, 3, 0}: col 0.
  const float w[4] = {1, 2, 3, 4};
  Sensitivity s;
  s.meanSquare = {16, 1, 1, 0};
  SparseParams p;
  p.fraction = 0.25;
  p.selection = OutlierSelection::Sensitivity;
  EXPECT_EQ(selectOutliers(w, 1, 4, p, &s).cols, (std::vector<int32_t>{0}));
  p.selection = OutlierSelection::Magnitude;
  EXPECT_EQ(selectOutliers(w, 1, 4, p, &s).cols, (std::vector<int32_t>{3}));
}

TEST(SparseOutliersTest, IQRSelectionByHand) {
  // Sorted row {0, 1, 2, 3, 4, 5, 6, 100}: Q1 = sorted[7 / 4 = 1] = 1,
  // Q3 = sorted[21 / 4 = 5] = 5, IQR 4; fence with f = 1.5: [-5, 11].
  // Only 100 lies outside; the fraction (4 of 8) only caps the count.
  const float w[8] = {3, 100, 0, 6, 1, 5, 2, 4};
  SparseParams p;
  p.fraction = 0.5;
  p.selection = OutlierSelection::IQR;
  p.iqrFactor = 1.5f;
  OutlierPattern pattern = selectOutliers(w, 1, 8, p);
  EXPECT_EQ(pattern.cols, (std::vector<int32_t>{1}));
  // Masking clamps it into the inliers' range [0, 6].
  std::vector<float> masked = maskOutliers(w, 1, 8, pattern);
  EXPECT_EQ(masked[1], 6.0f);
  EXPECT_EQ(masked[0], 3.0f);
}

TEST(SparseOutliersTest, ResidualCSRByHand) {
  // Dense reconstruction of a 2 x 3 matrix with outliers (0, 2), (1, 0):
  //   residuals 10 - 1 = 9 (fp16 0x4880) and -4 - (-0.5) = -3.5 (0xC300).
  const float w[6] = {1, 2, 10, -4, 0, 1};
  const float dense[6] = {1, 2, 1, -0.5f, 0, 1};
  OutlierPattern pattern;
  pattern.rowPtr = {0, 1, 2};
  pattern.cols = {2, 0};
  SparseCSR csr = buildSparseResidual(w, dense, 2, 3, pattern);
  EXPECT_EQ(csr.rowPtr, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(csr.colIdx, (std::vector<uint8_t>{2, 0, 0, 0})); // uint16 LE
  EXPECT_EQ(csr.values, (std::vector<uint16_t>{0x4880, 0xC300}));
  std::vector<float> recon(dense, dense + 6);
  addSparse(csr, 2, 3, recon.data());
  EXPECT_EQ(recon, std::vector<float>(w, w + 6));
  // 8 * (3 * 4 + 2 * 2 + 2 * 2) bytes / 6 weights.
  EXPECT_DOUBLE_EQ(bitsPerWeight(csr, 2, 3), 8.0 * 20 / 6);
}

TEST(SparseOutliersTest, WideMatricesUseInt32Columns) {
  const int64_t cols = 70000;
  std::vector<float> w(cols, 0.0f);
  w[69999] = 5.0f;
  w[3] = -4.0f;
  std::vector<float> dense(cols, 0.0f);
  SparseParams p;
  p.fraction = 2.0 / cols;
  OutlierPattern pattern = selectOutliers(w.data(), 1, cols, p);
  SparseCSR csr = buildSparseResidual(w.data(), dense.data(), 1, cols, pattern);
  EXPECT_EQ(sparseColIndexBytes(cols), 4u);
  ASSERT_EQ(csr.colIdx.size(), 8u);
  EXPECT_EQ(sparseColumn(csr, cols, 0), 3);
  EXPECT_EQ(sparseColumn(csr, cols, 1), 69999);
}

TEST(SparseOutliersTest, DenseAndSparseIsExactAtOutliers) {
  const int64_t rows = 64, cols = 256;
  std::vector<float> w = heavyTailedMatrix(rows, cols, 11);
  SparseParams sp;
  sp.fraction = 0.01;
  for (int dense = 0; dense < 2; ++dense) {
    AffineParams ap;
    ap.bits = 3;
    ap.groupSize = 64;
    LUTParams lp;
    lp.bits = 3;
    auto roundTrip = [&](const std::vector<float> &masked) {
      if (dense == 0)
        return dequantizeAffine(quantizeAffine(masked.data(), rows, cols, ap),
                                rows, cols, ap);
      return dequantizeLUT(quantizeLUT(masked.data(), rows, cols, lp), rows,
                           cols, lp);
    };
    std::vector<float> recon;
    SparseCSR csr = quantizeDenseAndSparse(w.data(), rows, cols, sp, nullptr,
                                           roundTrip, &recon);
    ASSERT_EQ(csr.nnz(), std::llround(0.01 * rows * cols));
    for (int64_t r = 0; r < rows; ++r)
      for (int32_t i = csr.rowPtr[r]; i < csr.rowPtr[r + 1]; ++i) {
        int64_t at = r * cols + sparseColumn(csr, cols, i);
        float value = halfBitsToFloat(csr.values[i]);
        EXPECT_LE(std::fabs(recon[at] - w[at]),
                  residualTolerance(w[at] - (recon[at] - value), w[at]));
      }
    // The sparse part lowers the error of the dense part alone.
    std::vector<float> denseOnly = roundTrip(w);
    EXPECT_LT(relativeError(w, recon), relativeError(w, denseOnly));
  }
}

TEST(SparseOutliersTest, Validate) {
  SparseParams p;
  EXPECT_EQ(validateSparse(p, 4, 4), "");
  p.fraction = 1.0;
  EXPECT_NE(validateSparse(p, 4, 4).find("sparse fraction"), std::string::npos);
  p.fraction = 0.1;
  p.iqrFactor = 0.0f;
  EXPECT_NE(validateSparse(p, 4, 4).find("IQR factor"), std::string::npos);
}

} // namespace
