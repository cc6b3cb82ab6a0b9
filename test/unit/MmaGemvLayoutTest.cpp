//===- MmaGemvLayoutTest.cpp - the tensor-core GEMV's lane arithmetic -----===//
//
// The tensor-core decode GEMV (codegen/cuda/MmaGemvKernels.cpp) hands
// mma.sync m16n8k16 fragments built by rules over upstream's fragment maps.
// No GPU runs here, so these tests emulate one mma step of 32 lanes with
// the maps themselves (A [m x k], B [n x k], C [m x n] = A B^T) and check
// that the rules give the dot products they are meant to, with FactorMode::
// PerTile's split of B's columns: each lane's tile times its own scale
// factor, summed over the row's 4 lanes.
//===----------------------------------------------------------------------===//
#include "codegen/cuda/MatmulKernelsInternal.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <random>

using namespace mlir;
using namespace mlir::mixq::cuda;
using namespace mlir::mixq::cuda::gen::matmul;

namespace {

constexpr int64_t kLanes = 32, kM = 16, kN = 8, kK = 16;

class MmaGemvLayoutTest : public ::testing::Test {
protected:
  void SetUp() override {
    context.loadDialect<affine::AffineDialect, arith::ArithDialect>();
    OpBuilder b(&context);
    auto layoutOr =
        getMmaGemvLayout(b, UnknownLoc::get(&context), b.getF16Type());
    ASSERT_TRUE(succeeded(layoutOr));
    layout = *layoutOr;
  }

  /// (lane, value) -> results of `map`.
  static SmallVector<int64_t, 2> at(AffineMap map, int64_t lane, int64_t v) {
    return map.compose({lane, v});
  }

  MLIRContext context;
  MmaGemvLayout layout;
};

// The rules of buildMmaKLoop and buildTileScaledSums for one mma: lane
// (g, t) puts its two rows' tile values at slots aSlot of rows g + 8
// aRowOffset; B's value u of lane (g, t) is the x of its slot u where
// g % 4 == t and 0 elsewhere; C's value v, of column n, is scaled by the
// factor of lane 4 g + n % 4 for its row; buildTileColumnTotals adds a
// lane's values of a row and lane ^ 1's. The result must be, for every
// row, sum over the row's 4 lanes of factor * (tile . x).
TEST_F(MmaGemvLayoutTest, PerTileFactorsGiveEachLaneItsOwnScale) {
  ASSERT_TRUE(layout.tileColumnsPair);
  std::mt19937 random(7);
  std::uniform_int_distribution<int> small(-8, 8);
  // tile[lane][rowOffset][slot], x[lane % 4][slot], factor[lane][rowOffset].
  double tile[kLanes][2][kMmaGemvSlots], x[4][kMmaGemvSlots];
  double factor[kLanes][2];
  for (auto &lane : tile)
    for (auto &row : lane)
      for (double &value : row)
        value = small(random);
  for (auto &lane : x)
    for (double &value : lane)
      value = small(random);
  for (auto &lane : factor)
    for (double &value : lane)
      value = 1 + small(random) * 0.125;

  double a[kM][kK] = {}, bT[kN][kK] = {}, c[kM][kN] = {};
  int64_t aValues = layout.fragments.typeA.getNumElements();
  for (int64_t lane = 0; lane < kLanes; ++lane) {
    for (int64_t v = 0; v < aValues; ++v) {
      auto mk = at(layout.fragments.a, lane, v);
      a[mk[0]][mk[1]] = tile[lane][layout.aRowOffset[v]][layout.aSlot[v]];
    }
    int64_t g = lane / 4, t = lane % 4;
    for (int64_t u = 0; u < kMmaGemvSlots; ++u) {
      auto nk = at(layout.fragments.b, lane, u);
      bT[nk[0]][nk[1]] = g % 4 == t ? x[t][u] : 0.0;
    }
  }
  for (int64_t m = 0; m < kM; ++m)
    for (int64_t n = 0; n < kN; ++n)
      for (int64_t k = 0; k < kK; ++k)
        c[m][n] += a[m][k] * bT[n][k];

  int64_t cValues = layout.fragments.typeC.getNumElements();
  double scaled[kLanes][4] = {};
  for (int64_t lane = 0; lane < kLanes; ++lane)
    for (int64_t v = 0; v < cValues; ++v) {
      auto mn = at(layout.fragments.c, lane, v);
      int64_t source = lane / 4 * 4 + mn[1] % 4;
      scaled[lane][v] = c[mn[0]][mn[1]] * factor[source][layout.cRowOffset[v]];
    }
  for (int64_t lane = 0; lane < kLanes; ++lane)
    for (int64_t offset = 0; offset < 2; ++offset) {
      double total = 0.0;
      for (int64_t holder : {lane, lane ^ 1})
        for (int64_t v = 0; v < cValues; ++v)
          if (layout.cRowOffset[v] == offset)
            total += scaled[holder][v];
      double expected = 0.0;
      for (int64_t t = 0; t < 4; ++t) {
        int64_t owner = lane / 4 * 4 + t;
        double dot = 0.0;
        for (int64_t slot = 0; slot < kMmaGemvSlots; ++slot)
          dot += tile[owner][offset][slot] * x[t][slot];
        expected += factor[owner][offset] * dot;
      }
      EXPECT_EQ(total, expected)
          << "lane " << lane << ", row offset " << offset;
    }
}

// Biased tiles (buildMmaKLoop with CUDAOptions::biasedGemvTiles): lane
// (g, t)'s A values are bias[slot] + zero[row] + w (w the unscaled weight),
// B's value u is the x of its slot u in every column, and a second mma
// takes getBiasFragmentValue's A with the same B. In every lane each C
// value of the first, less zero[row] times the second's sum(x) value and
// its sum(bias x) value (getBiasSumValues), must be the row's dot product
// of the unscaled weights with x.
TEST_F(MmaGemvLayoutTest, BiasMmaRemovesTheBiasesAndZeroPoints) {
  std::mt19937 random(11);
  std::uniform_int_distribution<int> small(-8, 8);
  const double bias[kMmaGemvSlots] = {1024, 1024, 64, 64};
  double weight[kLanes][2][kMmaGemvSlots], x[4][kMmaGemvSlots], zero[kM];
  for (auto &lane : weight)
    for (auto &row : lane)
      for (double &value : row)
        value = small(random);
  for (auto &lane : x)
    for (double &value : lane)
      value = small(random) * 0.25;
  for (double &value : zero)
    value = 8 + small(random);

  double a[kM][kK] = {}, aBias[kM][kK] = {}, bT[kN][kK] = {};
  int64_t aValues = layout.fragments.typeA.getNumElements();
  for (int64_t lane = 0; lane < kLanes; ++lane) {
    for (int64_t v = 0; v < aValues; ++v) {
      auto mk = at(layout.fragments.a, lane, v);
      int64_t slot = layout.aSlot[v];
      a[mk[0]][mk[1]] =
          bias[slot] + zero[mk[0]] + weight[lane][layout.aRowOffset[v]][slot];
      aBias[mk[0]][mk[1]] = getBiasFragmentValue(layout, bias, v);
    }
    for (int64_t u = 0; u < kMmaGemvSlots; ++u) {
      auto nk = at(layout.fragments.b, lane, u);
      bT[nk[0]][nk[1]] = x[lane % 4][u];
    }
  }
  double c[kM][kN] = {}, cBias[kM][kN] = {};
  for (int64_t m = 0; m < kM; ++m)
    for (int64_t n = 0; n < kN; ++n)
      for (int64_t k = 0; k < kK; ++k) {
        c[m][n] += a[m][k] * bT[n][k];
        cBias[m][n] += aBias[m][k] * bT[n][k];
      }

  auto [biasValue, onesValue] = getBiasSumValues(layout);
  int64_t cValues = layout.fragments.typeC.getNumElements();
  for (int64_t lane = 0; lane < kLanes; ++lane) {
    auto valueOf = [&](double(&fragment)[kM][kN], int64_t v) {
      auto mn = at(layout.fragments.c, lane, v);
      return fragment[mn[0]][mn[1]];
    };
    double biasDot = valueOf(cBias, biasValue);
    double inputSum = valueOf(cBias, onesValue);
    for (int64_t v = 0; v < cValues; ++v) {
      int64_t row = at(layout.fragments.c, lane, v)[0];
      int64_t offset = layout.cRowOffset[v];
      double expected = 0.0;
      for (int64_t t = 0; t < 4; ++t)
        for (int64_t slot = 0; slot < kMmaGemvSlots; ++slot)
          expected += weight[lane / 4 * 4 + t][offset][slot] * x[t][slot];
      EXPECT_EQ(valueOf(c, v) - (zero[row] * inputSum + biasDot), expected)
          << "lane " << lane << ", value " << v;
    }
  }
}
} // namespace
