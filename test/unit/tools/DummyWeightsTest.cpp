//===- DummyWeightsTest.cpp - --dummy-weights keeps the index structure ---===//
//
// The filler on the components of `mixed` (CSR outliers, high-group row
// starts and bit map), `sparse` and QUIK (outlier columns and column map):
// every index it writes is in range and consistent with the others, values
// are finite, and anything of the wrong size or unknown is an error.
//===----------------------------------------------------------------------===//
#include "tools/mixq-bench/DummyWeights.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bitset>
#include <cmath>
#include <cstring>

using namespace mixq;
using namespace mixq::bench;
using json = nlohmann::json;

namespace {

json component(const std::string &weight, const std::string &name,
               const std::string &dtype, std::vector<int64_t> shape) {
  return {{"name", name},
          {"blob", weight + ":" + name},
          {"dtype", dtype},
          {"shape", shape}};
}

/// A mixed weight [N = 8, K = 64] with groups of 16 (4 per row): 5 high
/// groups, 6 outliers; a QUIK weight [4, 16] with 3 outlier columns; and a
/// plain f16 weight.
json manifest() {
  json mixed = {{"name", "blk0.q_proj"},
                {"shape", {8, 64}},
                {"components",
                 {component("blk0.q_proj", "low_codes", "i32", {8, 4}),
                  component("blk0.q_proj", "high_codes", "i32", {5, 1}),
                  component("blk0.q_proj", "high_group_start", "i32", {8, 1}),
                  component("blk0.q_proj", "bit_map", "i32", {8, 1}),
                  component("blk0.q_proj", "scale_codes", "i8", {8, 4}),
                  component("blk0.q_proj", "block_params", "f16", {8, 2}),
                  component("blk0.q_proj", "outlier_row_ptr", "i32", {9}),
                  component("blk0.q_proj", "outlier_col_idx", "i16", {6}),
                  component("blk0.q_proj", "outlier_values", "f16", {6})}}};
  json quik = {{"name", "blk0.k_proj"},
               {"shape", {4, 16}},
               {"components",
                {component("blk0.k_proj", "outlier_cols", "i32", {3}),
                 component("blk0.k_proj", "outlier_weights", "f16", {4, 3}),
                 component("blk0.k_proj", "codes", "i32", {4, 1}),
                 component("blk0.k_proj", "scales", "f16", {4}),
                 component("blk0.k_proj", "row_sums", "i32", {4}),
                 component("blk0.k_proj", "col_map", "i16", {16})}}};
  json plain = {{"name", "tok_embed"},
                {"shape", {8, 4}},
                {"components",
                 {{{"name", "data"},
                   {"blob", "tok_embed"},
                   {"dtype", "bf16"},
                   {"shape", {8, 4}}}}}};
  return {{"weights", {mixed, quik, plain}}};
}

class DummyWeightsTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto d = DummyWeights::fromManifest(manifest(), 7);
    ASSERT_TRUE(d.ok()) << d.message();
    dummy = std::make_unique<DummyWeights>(d.take());
  }

  template <typename T>
  std::vector<T> fill(const std::string &blob, size_t count) {
    std::vector<T> values(count);
    Status s = dummy->fill(blob, reinterpret_cast<uint8_t *>(values.data()),
                           count * sizeof(T));
    EXPECT_TRUE(s.ok()) << s.message();
    return values;
  }

  std::unique_ptr<DummyWeights> dummy;
};

float halfToFloat(uint16_t h) {
  int exponent = (h >> 10) & 0x1F;
  float mantissa = float(h & 0x3FF) / 1024.0f;
  float value = exponent == 0 ? std::ldexp(mantissa, -14)
                              : std::ldexp(1.0f + mantissa, exponent - 15);
  return exponent == 31 ? NAN : (h & 0x8000 ? -value : value);
}

TEST_F(DummyWeightsTest, CSRRowPointersAndColumnsAreValid) {
  auto ptr = fill<int32_t>("blk0.q_proj:outlier_row_ptr", 9);
  EXPECT_EQ(ptr.front(), 0);
  EXPECT_EQ(ptr.back(), 6) << "nnz, from outlier_col_idx";
  for (size_t r = 0; r + 1 < ptr.size(); ++r)
    EXPECT_LE(ptr[r], ptr[r + 1]);
  auto cols = fill<int16_t>("blk0.q_proj:outlier_col_idx", 6);
  for (size_t r = 0; r + 1 < ptr.size(); ++r)
    for (int32_t i = ptr[r]; i < ptr[r + 1]; ++i) {
      EXPECT_GE(cols[size_t(i)], 0);
      EXPECT_LT(cols[size_t(i)], 64);
      if (i > ptr[r])
        EXPECT_LT(cols[size_t(i) - 1], cols[size_t(i)]) << "increasing";
    }
}

TEST_F(DummyWeightsTest, HighGroupsAgreeWithTheBitMap) {
  auto start = fill<int32_t>("blk0.q_proj:high_group_start", 8);
  auto map = fill<uint32_t>("blk0.q_proj:bit_map", 8);
  // The kernels find high group (r, g) at start[r][g / 32] + popcount(bits
  // of word g / 32 below g): the starts are the prefix counts of the map,
  // and the last row ends at the 5 high_codes rows.
  int32_t next = 0;
  for (size_t r = 0; r < 8; ++r) {
    EXPECT_EQ(start[r], next) << "row " << r;
    next += int32_t(std::bitset<32>(map[r]).count());
    EXPECT_EQ(map[r] >> 4, 0u) << "only the row's 4 groups";
  }
  EXPECT_EQ(next, 5) << "the high_codes rows";
}

TEST_F(DummyWeightsTest, QuikColumnsAndTheirMapAgree) {
  auto cols = fill<int32_t>("blk0.k_proj:outlier_cols", 3);
  EXPECT_EQ(cols, (std::vector<int32_t>{0, 5, 10}));
  auto map = fill<int16_t>("blk0.k_proj:col_map", 16);
  for (int c = 0; c < 16; ++c) {
    auto slot = std::find(cols.begin(), cols.end(), c);
    if (slot != cols.end())
      EXPECT_EQ(map[size_t(c)], slot - cols.begin());
    else
      EXPECT_EQ(map[size_t(c)], -1);
  }
  EXPECT_EQ(fill<int32_t>("blk0.k_proj:row_sums", 4),
            (std::vector<int32_t>(4, 0)))
      << "an unknown rank-1 integer component is zeroed";
}

TEST_F(DummyWeightsTest, ValuesAreFiniteAndCodesRandom) {
  // The top exponent bit is cleared: finite, below 2 in magnitude.
  for (uint16_t h : fill<uint16_t>("blk0.q_proj:outlier_values", 6)) {
    float v = halfToFloat(h);
    EXPECT_TRUE(std::isfinite(v));
    EXPECT_LT(std::fabs(v), 2.0f);
  }
  for (uint16_t b : fill<uint16_t>("tok_embed", 32)) {
    uint32_t bits = uint32_t(b) << 16;
    float v;
    std::memcpy(&v, &bits, 4);
    EXPECT_TRUE(std::isfinite(v) && std::fabs(v) < 2.0f) << v;
  }
  auto codes = fill<uint32_t>("blk0.q_proj:low_codes", 32);
  EXPECT_NE(codes[0], codes[1]);
  EXPECT_EQ(codes, fill<uint32_t>("blk0.q_proj:low_codes", 32))
      << "the same bytes every run";
}

TEST_F(DummyWeightsTest, BulkComponentsAreGeneratedOnTheDevice) {
  // Values and codes go to the GPU with the mask that keeps them finite;
  // index structure (rules 1-5) stays on the host.
  auto values = dummy->deviceFill("blk0.q_proj:outlier_values");
  ASSERT_TRUE(values.has_value());
  EXPECT_EQ(values->mask, 0xBFFFBFFFu) << "f16: each half's top exponent bit";
  auto codes = dummy->deviceFill("blk0.q_proj:low_codes");
  ASSERT_TRUE(codes.has_value());
  EXPECT_EQ(codes->mask, 0xFFFFFFFFu);
  EXPECT_NE(codes->seed, values->seed) << "each blob its own stream";
  EXPECT_EQ(dummy->deviceFill("tok_embed")->mask, 0xBFFFBFFFu) << "bf16";
  for (const char *index :
       {"blk0.q_proj:high_group_start", "blk0.q_proj:bit_map",
        "blk0.q_proj:outlier_row_ptr", "blk0.q_proj:outlier_col_idx",
        "blk0.k_proj:outlier_cols", "blk0.k_proj:col_map",
        "blk0.k_proj:row_sums", "blk9.x:codes"})
    EXPECT_FALSE(dummy->deviceFill(index).has_value()) << index;
}

TEST_F(DummyWeightsTest, HostBytesAreWhatTheDeviceKernelWrites) {
  // The host filler is mixq_fill_random's reference: word i is
  // splitmix64(seed + i * golden) & mask. For seed 0, word 1 is the
  // textbook splitmix64's first output from state 0,
  // 0xE220A8397B1DCDAF, whose low half is 0x7B1DCDAF.
  auto d = DummyWeights::fromManifest(manifest(), 0);
  ASSERT_TRUE(d.ok());
  uint64_t seed = d->deviceFill("blk0.q_proj:low_codes")->seed;
  auto zero = DummyWeights::fromManifest(manifest(), seed);
  ASSERT_TRUE(zero.ok());
  // A seed equal to the blob's name hash makes the stream's seed 0.
  EXPECT_EQ(zero->deviceFill("blk0.q_proj:low_codes")->seed, 0u);
  std::vector<uint32_t> words(32);
  ASSERT_TRUE(zero->fill("blk0.q_proj:low_codes",
                         reinterpret_cast<uint8_t *>(words.data()), 128)
                  .ok());
  EXPECT_EQ(words[0], 0u) << "the finalizer of 0 is 0";
  EXPECT_EQ(words[1], 0x7B1DCDAFu);
}

TEST_F(DummyWeightsTest, UnknownBlobsAndWrongSizesAreErrors) {
  std::vector<uint8_t> bytes(64);
  Status unknown = dummy->fill("blk9.x:codes", bytes.data(), 4);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.message(),
            "blob 'blk9.x:codes' is no component of the manifest's weights");
  Status size = dummy->fill("blk0.q_proj:bit_map", bytes.data(), 31);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.message(), "blob 'blk0.q_proj:bit_map' is 31 bytes, not its "
                            "component's i32 x 8");
  json bad = manifest();
  bad["weights"][0]["components"][0].erase("dtype");
  auto parsed = DummyWeights::fromManifest(bad);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.message(),
            "weight 'blk0.q_proj': a component needs a name, dtype and shape");
}

} // namespace
