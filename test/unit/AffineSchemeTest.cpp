//===- AffineSchemeTest.cpp - #mixq.affine's clip parameter ---------------===//
//
// `clip` selects the host quantizer of #mixq.affine: the attribute's
// quantize must give exactly what quantizeAffine gives with that grid (and
// the calibration sensitivity), keep the layout, and lower the error on a
// heavy-tailed matrix.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/MixQDialect.h"
#include "quant/AffineQuantizer.h"
#include "test/unit/QuantTestUtil.h"

#include "mlir/AsmParser/AsmParser.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace mlir;
using namespace mlir::mixq;
namespace qt = ::mixq::quant;
using ::mixq::quant::testing::heavyTailedMatrix;

namespace {

class AffineSchemeTest : public ::testing::Test {
protected:
  AffineSchemeTest() { context.loadDialect<MixQDialect>(); }

  QuantSchemeAttrInterface scheme(StringRef text) {
    Attribute attr = parseAttribute(text, &context);
    EXPECT_TRUE(attr) << text.str();
    return cast<QuantSchemeAttrInterface>(attr);
  }

  static std::vector<uint8_t> bytesOf(const std::vector<uint32_t> &words) {
    std::vector<uint8_t> bytes(words.size() * 4);
    std::memcpy(bytes.data(), words.data(), bytes.size());
    return bytes;
  }

  /// The attribute's buffers equal quantizeAffine's with `grid` ratios.
  void expectSameAsHost(QuantSchemeAttrInterface attr, unsigned grid,
                        ArrayRef<float> sensitivity) {
    const int64_t rows = 8, cols = 128;
    std::vector<float> w = heavyTailedMatrix(rows, cols, 11);
    QuantizeOptions options;
    options.inputSensitivity = sensitivity;
    auto packed = attr.quantize(w, {rows, cols}, options);
    ASSERT_TRUE(static_cast<bool>(packed)) << toString(packed.takeError());
    qt::AffineParams p;
    p.bits = 3;
    p.groupSize = 32;
    p.clipGridSize = grid;
    qt::Sensitivity h;
    h.meanSquare.assign(sensitivity.begin(), sensitivity.end());
    qt::AffineQuantized host = qt::quantizeAffine(
        w.data(), rows, cols, p, sensitivity.empty() ? nullptr : &h);
    ASSERT_EQ(packed->size(), 3u);
    EXPECT_EQ((*packed)[0], bytesOf(host.codes));
    EXPECT_EQ((*packed)[1], host.scales);
    EXPECT_EQ((*packed)[2], host.zeros);
  }

  MLIRContext context;
};

TEST_F(AffineSchemeTest, ClipIsTheHostGrid) {
  expectSameAsHost(scheme("#mixq.affine<bits = 3, group = 32>"), 1, {});
  expectSameAsHost(scheme("#mixq.affine<bits = 3, group = 32, clip = 11>"), 11,
                   {});
  // Sensitivities that differ per column change which ratio wins.
  std::vector<float> h(128);
  for (size_t i = 0; i < h.size(); ++i)
    h[i] = i % 7 == 0 ? 50.0f : 0.5f + 0.01f * float(i);
  expectSameAsHost(scheme("#mixq.affine<bits = 3, group = 32, clip = 11>"), 11,
                   h);
}

TEST_F(AffineSchemeTest, ClipKeepsTheLayoutAndLowersTheError) {
  const int64_t rows = 16, cols = 256;
  std::vector<float> w = heavyTailedMatrix(rows, cols, 5);
  QuantSchemeAttrInterface rtn = scheme("#mixq.affine<bits = 2, group = 64>");
  QuantSchemeAttrInterface mse =
      scheme("#mixq.affine<bits = 2, group = 64, clip = 11>");
  EXPECT_EQ(rtn.getBitsPerWeight({rows, cols}),
            mse.getBitsPerWeight({rows, cols}));
  EXPECT_DOUBLE_EQ(mse.getBitsPerWeight({rows, cols}), 2.5); // 2 + 32 / 64
  auto errorOf = [&](QuantSchemeAttrInterface attr) {
    auto packed = attr.quantize(w, {rows, cols}, QuantizeOptions());
    EXPECT_TRUE(static_cast<bool>(packed));
    auto error = attr.reconstructionError(*packed, {rows, cols}, w);
    EXPECT_TRUE(static_cast<bool>(error));
    return *error;
  };
  double rtnError = errorOf(rtn), mseError = errorOf(mse);
  EXPECT_LT(mseError, rtnError * 0.95) << rtnError << " -> " << mseError;
}

TEST_F(AffineSchemeTest, WrongSensitivityLengthIsAnError) {
  std::vector<float> w(4 * 64, 0.5f), h(63, 1.0f);
  QuantizeOptions options;
  options.inputSensitivity = h;
  auto packed = scheme("#mixq.affine<bits = 4, group = 32, clip = 11>")
                    .quantize(w, {4, 64}, options);
  ASSERT_FALSE(static_cast<bool>(packed));
  EXPECT_NE(toString(packed.takeError()).find("affine"), std::string::npos);
}

} // namespace
