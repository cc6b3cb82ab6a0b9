//===- CalibrationStatsTest.cpp - calibration statistics file -------------===//
#include "quant/CalibrationStats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

using namespace mixq::quant;

namespace {

CalibrationStats tinyStats() {
  CalibrationStats stats;
  TensorStats a;
  a.tokens = 3;
  a.channels.meanSquare = {1.0f, 0.25f};
  a.channels.maxAbs = {2.0f, 0.5f};
  stats.tensors["b"] = a;
  TensorStats b;
  b.tokens = 1;
  b.channels.meanSquare = {4.0f};
  b.channels.maxAbs = {2.0f};
  stats.tensors["a"] = b;
  return stats;
}

// The file image of tinyStats, written out by hand from the format in
// CalibrationStats.h. Records come in name order: "a" then "b".
const std::vector<uint8_t> kTinyImage = {
    'M', 'I', 'X',  'Q',  'C', 'A', 'L',  0,    // magic
    1,   0,   0,    0,                          // version 1
    2,   0,   0,    0,                          // 2 tensors
    1,   0,   0,    0,    'a',                  // name "a"
    1,   0,   0,    0,    0,   0,   0,    0,    // 1 token
    1,   0,   0,    0,                          // 1 channel
    0,   0,   0x80, 0x40,                       // E[x^2] 4.0f = 0x40800000
    0,   0,   0,    0x40,                       // max|x| 2.0f = 0x40000000
    1,   0,   0,    0,    'b',                  // name "b"
    3,   0,   0,    0,    0,   0,   0,    0,    // 3 tokens
    2,   0,   0,    0,                          // 2 channels
    0,   0,   0x80, 0x3F, 0,   0,   0x80, 0x3E, // 1.0f, 0.25f
    0,   0,   0,    0x40, 0,   0,   0,    0x3F, // 2.0f, 0.5f
};

std::string parseError(const std::vector<uint8_t> &image) {
  auto stats = parseCalibrationStats(image.data(), image.size(), "f.cal");
  return stats ? "" : stats.message();
}

TEST(CalibrationStatsTest, ImageMatchesTheFormat) {
  EXPECT_EQ(serializeCalibrationStats(tinyStats()), kTinyImage);
}

TEST(CalibrationStatsTest, ParsesTheImage) {
  auto stats =
      parseCalibrationStats(kTinyImage.data(), kTinyImage.size(), "f.cal");
  ASSERT_TRUE(stats) << stats.message();
  ASSERT_EQ(stats->tensors.size(), 2u);
  const Sensitivity *b = stats->find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->meanSquare, (std::vector<float>{1.0f, 0.25f}));
  EXPECT_EQ(b->maxAbs, (std::vector<float>{2.0f, 0.5f}));
  EXPECT_EQ(stats->tensors.at("b").tokens, 3u);
  EXPECT_EQ(stats->find("missing"), nullptr);
}

TEST(CalibrationStatsTest, FileRoundTrip) {
  std::string path = ::testing::TempDir() + "mixq-calibration-test.cal";
  ASSERT_TRUE(writeCalibrationStats(tinyStats(), path));
  auto stats = readCalibrationStats(path);
  ASSERT_TRUE(stats) << stats.message();
  EXPECT_EQ(serializeCalibrationStats(*stats), kTinyImage);
  std::remove(path.c_str());
  auto missing = readCalibrationStats(path);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("cannot open"), std::string::npos);
}

TEST(CalibrationStatsTest, EveryTruncationIsRejected) {
  for (size_t size = 0; size < kTinyImage.size(); ++size) {
    std::vector<uint8_t> prefix(kTinyImage.begin(), kTinyImage.begin() + size);
    std::string error = parseError(prefix);
    EXPECT_NE(error.find("truncated"), std::string::npos)
        << "size " << size << ": " << error;
    EXPECT_EQ(error.rfind("f.cal: ", 0), 0u) << error;
  }
}

TEST(CalibrationStatsTest, RejectsBadHeaders) {
  std::vector<uint8_t> image = kTinyImage;
  image[0] = 'X';
  EXPECT_NE(parseError(image).find("bad magic"), std::string::npos);
  image = kTinyImage;
  image[8] = 2; // version 2
  EXPECT_NE(parseError(image).find("version 2 is not supported"),
            std::string::npos);
  image = kTinyImage;
  image.push_back(0);
  EXPECT_NE(parseError(image).find("trailing bytes"), std::string::npos);
}

TEST(CalibrationStatsTest, RejectsBadRecords) {
  // Swap the names: "b" then "a" is out of order.
  std::vector<uint8_t> image = kTinyImage;
  image[20] = 'b';
  image[45] = 'a';
  EXPECT_NE(parseError(image).find("unique and sorted"), std::string::npos);
  // Duplicate name.
  image = kTinyImage;
  image[45] = 'a';
  EXPECT_NE(parseError(image).find("tensor 'a'"), std::string::npos);
  // A negative E[x^2] (sign bit of channel 0 of "a").
  image = kTinyImage;
  image[36] = 0xC0;
  EXPECT_NE(parseError(image).find("meanSquare[0] must be finite"),
            std::string::npos);
  // A NaN max|x| (0x7FC00000) in channel 1 of "b".
  image = kTinyImage;
  image[kTinyImage.size() - 2] = 0xC0;
  image[kTinyImage.size() - 1] = 0x7F;
  EXPECT_NE(parseError(image).find("maxAbs[1] must be finite"),
            std::string::npos);
  // Zero channels and an empty name.
  image = kTinyImage;
  image[29] = 0;
  EXPECT_NE(parseError(image).find("has 0 channels"), std::string::npos);
  image = kTinyImage;
  image[16] = 0;
  EXPECT_NE(parseError(image).find("length 0"), std::string::npos);
}

TEST(CalibrationStatsTest, WriterRejectsMismatchedChannels) {
  CalibrationStats stats = tinyStats();
  stats.tensors["a"].channels.maxAbs.push_back(1.0f);
  mixq::Status status =
      writeCalibrationStats(stats, ::testing::TempDir() + "x.cal");
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("tensor 'a'"), std::string::npos);
}

TEST(CalibrationStatsTest, Merge) {
  CalibrationStats other;
  TensorStats b;
  b.tokens = 1;
  b.channels.meanSquare = {5.0f, 0.25f};
  b.channels.maxAbs = {1.0f, 3.0f};
  other.tensors["b"] = b;
  auto merged = mergeCalibrationStats(tinyStats(), other);
  ASSERT_TRUE(merged) << merged.message();
  const TensorStats &m = merged->tensors.at("b");
  EXPECT_EQ(m.tokens, 4u);
  // (3 * 1 + 1 * 5) / 4 = 2; (3 * 0.25 + 0.25) / 4 = 0.25.
  EXPECT_EQ(m.channels.meanSquare, (std::vector<float>{2.0f, 0.25f}));
  EXPECT_EQ(m.channels.maxAbs, (std::vector<float>{2.0f, 3.0f}));
  EXPECT_EQ(merged->tensors.at("a").tokens, 1u);
  other.tensors["b"].channels.meanSquare.push_back(1.0f);
  other.tensors["b"].channels.maxAbs.push_back(1.0f);
  EXPECT_FALSE(mergeCalibrationStats(tinyStats(), other));
}

TEST(CalibrationStatsTest, ValidateSensitivity) {
  Sensitivity s;
  s.meanSquare = {1.0f, 2.0f};
  EXPECT_EQ(validateSensitivity(s, 2), "");
  EXPECT_NE(validateSensitivity(s, 3).find("meanSquare has 2 channels"),
            std::string::npos);
  s.maxAbs = {1.0f};
  EXPECT_NE(validateSensitivity(s, 2).find("maxAbs has 1 channels"),
            std::string::npos);
  s.maxAbs = {1.0f, std::numeric_limits<float>::infinity()};
  EXPECT_NE(validateSensitivity(s, 2).find("maxAbs[1]"), std::string::npos);
}

} // namespace
