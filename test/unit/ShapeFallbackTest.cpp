//===- ShapeFallbackTest.cpp - QuantSchemeAttrInterface::getShapeFallback -===//
//
// The scheme --mixq-quantize uses for a weight whose shape the requested one
// cannot describe, through the interface only, against hand-worked groups:
// the largest power of two below the scheme's group that divides K (and,
// for mixed, keeps group * lo and group * (hi - lo) whole words).
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/MixQDialect.h"
#include "dialect/MixQ/SchemeUtils.h"

#include "mlir/AsmParser/AsmParser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::mixq;

namespace {

class ShapeFallbackTest : public ::testing::Test {
protected:
  ShapeFallbackTest() { context.loadDialect<MixQDialect>(); }

  QuantSchemeAttrInterface scheme(StringRef text) {
    auto attr = dyn_cast_if_present<QuantSchemeAttrInterface>(
        parseAttribute(text, &context));
    EXPECT_TRUE(attr) << text.str();
    return attr;
  }

  /// The fallback for an N x K weight, printed ("" for none); it must fit.
  std::string fallback(StringRef text, int64_t k) {
    QuantSchemeAttrInterface attr = scheme(text);
    SmallVector<int64_t, 2> shape = {64, k};
    Attribute result = attr.getShapeFallback(shape);
    if (!result)
      return "";
    auto fallbackScheme = dyn_cast<QuantSchemeAttrInterface>(result);
    EXPECT_TRUE(fallbackScheme) << "not a scheme";
    EXPECT_EQ(getShapeMismatch(fallbackScheme, shape), "")
        << "the fallback does not fit K = " << k;
    std::string printed;
    llvm::raw_string_ostream os(printed);
    result.print(os);
    return printed;
  }

  MLIRContext context;
};

TEST_F(ShapeFallbackTest, AffineTakesTheLargestPowerOfTwoGroupDividingK) {
  // 288 = 32 * 9; 172 = 4 * 43; 100 = 4 * 25; 63 is odd.
  EXPECT_EQ(fallback("#mixq.affine<bits = 4, group = 128>", 288),
            "#mixq.affine<bits = 4, group = 32>");
  EXPECT_EQ(fallback("#mixq.affine<bits = 4, group = 32>", 172),
            "#mixq.affine<bits = 4, group = 4>");
  // Below the group itself, not at it: 48 does not divide 64, 32 does.
  EXPECT_EQ(
      fallback("#mixq.affine<bits = 3, group = 48, symmetric = true>", 64),
      "#mixq.affine<bits = 3, group = 32, symmetric = true>");
  EXPECT_EQ(fallback("#mixq.affine<bits = 8, group = 64>", 63),
            "#mixq.affine<bits = 8, group = 1>");
}

TEST_F(ShapeFallbackTest, MixedKeepsWholeWordsOrBecomesAffine) {
  // 288: group 32 divides it, and 32 * 2 and 32 * 2 bits are words.
  EXPECT_EQ(fallback("#mixq.mixed<group = 64>", 288),
            "#mixq.mixed<group = 32>");
  // 172: 4 divides it, but 4 * 2 bits is no word: affine at hi = 4 bits.
  EXPECT_EQ(fallback("#mixq.mixed<group = 64>", 172),
            "#mixq.affine<bits = 4, group = 4>");
  // Affine has 2, 3, 4 or 8 bits: hi = 5 rounds up to 8.
  EXPECT_EQ(fallback("#mixq.mixed<group = 64, hi = 5>", 172),
            "#mixq.affine<bits = 8, group = 4>");
  // Other parameters are kept.
  EXPECT_EQ(fallback("#mixq.mixed<group = 64, hi_frac = 0.25, outliers = "
                     "0.005>",
                     96),
            "#mixq.mixed<group = 32, hi_frac = 0.25, outliers = 0.005>");
}

TEST_F(ShapeFallbackTest, SparseWrapsItsDenseFallback) {
  EXPECT_EQ(fallback("#mixq.sparse<#mixq.affine<bits = 4, group = 48>, frac "
                     "= 0.01>",
                     64),
            "#mixq.sparse<#mixq.affine<bits = 4, group = 32>, frac = 0.01>");
}

TEST_F(ShapeFallbackTest, SchemesWithoutOneReturnNull) {
  // lut fits any K; outlier_cols with cols >= K has no close scheme.
  EXPECT_EQ(fallback("#mixq.lut<bits = 3>", 172), "");
  EXPECT_EQ(fallback("#mixq.outlier_cols<cols = 256, bits = 4>", 64), "");
}

} // namespace
