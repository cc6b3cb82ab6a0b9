//===- WeightStoreTest.cpp - MappedFile, ByteReader and WeightStore -------===//

#include "frontend/Checkpoint.h"
#include "frontend/WeightStore.h"

#include "quant/FloatFormats.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <unistd.h>

using namespace mixq;

namespace {

std::string writeTempFile(const std::string &tag,
                          const std::vector<uint8_t> &bytes) {
  std::string path = ::testing::TempDir() + "/mixq-ws-" + tag + "-" +
                     std::to_string(::getpid());
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
  return path;
}

template <typename T> void append(std::vector<uint8_t> &bytes, T value) {
  const uint8_t *p = reinterpret_cast<const uint8_t *>(&value);
  bytes.insert(bytes.end(), p, p + sizeof(T));
}

TEST(MappedFile, MissingFileNamesPath) {
  auto file = MappedFile::open("/nonexistent/mixq.bin");
  ASSERT_FALSE(file);
  EXPECT_NE(file.message().find("/nonexistent/mixq.bin"), std::string::npos);
}

TEST(ByteReader, TruncationNamesOffset) {
  uint8_t data[6] = {1, 0, 0, 0, 2, 0};
  ByteReader reader(data, sizeof(data), "x.gguf");
  uint32_t a = 0;
  ASSERT_TRUE(reader.readU32(a));
  EXPECT_EQ(a, 1u);
  uint32_t b = 0;
  Status s = reader.readU32(b);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(), "x.gguf: truncated: uint32_t needs 4 bytes at "
                         "offset 4 but only 2 remain");
  EXPECT_EQ(reader.offset(), 4u); // a failed read consumes nothing
}

TEST(WeightStore, ViewsAndConversion) {
  // f32 [2, 2] at offset 0, f16 [3] at offset 16, bf16 [1] at offset 22.
  std::vector<uint8_t> bytes;
  for (float f : {1.0f, -2.0f, 0.5f, 3.0f})
    append(bytes, f);
  for (uint16_t h : {0x3C00, 0xC000, 0x3800}) // 1, -2, 0.5
    append(bytes, h);
  append(bytes, uint16_t(0x4040)); // bf16 3.0
  std::string path = writeTempFile("views", bytes);

  WeightStore store;
  auto file = store.mapFile(path);
  ASSERT_TRUE(file) << file.message();
  ASSERT_TRUE(store.addFileTensor(**file, "m", DType::F32, {2, 2}, 0, 16));
  ASSERT_TRUE(store.addFileTensor(**file, "h", DType::F16, {3}, 16, 6));
  ASSERT_TRUE(store.addFileTensor(**file, "b", DType::BF16, {1}, 22, 2));
  EXPECT_TRUE(store.checkNoOverlaps());

  float row[2];
  ASSERT_TRUE(readRowsAsF32(*store.lookup("m"), 1, 1, row));
  EXPECT_EQ(row[0], 0.5f);
  EXPECT_EQ(row[1], 3.0f);
  auto h = readAllAsF32(*store.lookup("h"));
  ASSERT_TRUE(h);
  EXPECT_EQ(*h, (std::vector<float>{1.0f, -2.0f, 0.5f}));
  auto b = readAllAsF32(*store.lookup("b"));
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)[0], 3.0f);
  // Zero-copy: the view points into the mapping.
  EXPECT_EQ(store.lookup("h")->data, (*file)->data() + 16);
  // Released pages are re-read from the file when touched again.
  store.releasePages(*store.lookup("m"));
  auto again = readAllAsF32(*store.lookup("m"));
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, (std::vector<float>{1.0f, -2.0f, 0.5f, 3.0f}));
  std::remove(path.c_str());
}

TEST(WeightStore, RejectsBadRanges) {
  std::vector<uint8_t> bytes(16, 0);
  std::string path = writeTempFile("bad", bytes);
  WeightStore store;
  auto file = store.mapFile(path);
  ASSERT_TRUE(file);
  Status outside = store.addFileTensor(**file, "w", DType::F32, {4}, 4, 16);
  ASSERT_FALSE(outside);
  EXPECT_NE(outside.message().find("tensor 'w' at bytes [4, 20) lies outside "
                                   "the file (16 bytes)"),
            std::string::npos);
  Status size = store.addFileTensor(**file, "w", DType::F32, {3}, 0, 16);
  ASSERT_FALSE(size);
  EXPECT_NE(size.message().find("needs 3 x 4 bytes"), std::string::npos);
  Status misaligned = store.addFileTensor(**file, "w", DType::F32, {2}, 2, 8);
  ASSERT_FALSE(misaligned);
  EXPECT_NE(misaligned.message().find("not aligned"), std::string::npos);
  Status huge = store.addFileTensor(**file, "w", DType::F32,
                                    {int64_t(1) << 40, int64_t(1) << 40}, 0, 16);
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.message().find("more elements than fit"), std::string::npos);

  ASSERT_TRUE(store.addFileTensor(**file, "a", DType::F32, {3}, 0, 12));
  ASSERT_TRUE(store.addFileTensor(**file, "b", DType::F32, {2}, 8, 8));
  Status overlap = store.checkNoOverlaps();
  ASSERT_FALSE(overlap);
  EXPECT_NE(overlap.message().find("tensor 'b' at offset 8 overlaps tensor "
                                   "'a' at [0, 12)"),
            std::string::npos);
  Status twice = store.addFileTensor(**file, "a", DType::F32, {1}, 12, 4);
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.message().find("defined twice"), std::string::npos);
  std::remove(path.c_str());
}

TEST(ModelConfig, RotateHalfPermutation) {
  // One head of dim 8: interleaved pairs (0,1) (2,3) (4,5) (6,7) become
  // halves: destination rows 0..3 take the pairs' first elements.
  std::vector<int64_t> src = interleavedToRotateHalfRows(1, 8);
  EXPECT_EQ(src, (std::vector<int64_t>{0, 2, 4, 6, 1, 3, 5, 7}));
  // Heads are permuted independently.
  std::vector<int64_t> two = interleavedToRotateHalfRows(2, 4);
  EXPECT_EQ(two, (std::vector<int64_t>{0, 2, 1, 3, 4, 6, 5, 7}));
}

TEST(ModelConfig, ValidateNamesField) {
  ModelConfig c;
  c.dim = 64;
  c.hiddenDim = 172;
  c.numLayers = 1;
  c.numHeads = 8;
  c.numKvHeads = 3;
  c.headDim = 8;
  c.vocabSize = 10;
  c.maxSeqLen = 16;
  Status s = c.validate("m.bin");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(),
            "m.bin: n_heads (8) is not a multiple of n_kv_heads (3)");
  c.numKvHeads = 4;
  EXPECT_TRUE(c.validate("m.bin"));
  EXPECT_EQ(expectedTensors(c).size(), 1u + 9u + 1u + 1u);
  c.tiedEmbeddings = true;
  EXPECT_EQ(c.numParameters(),
            10 * 64 + 64 + 64 * 64 + 2 * 32 * 64 + 64 * 64 + 64 +
                3 * 172 * 64 + 64);
}

} // namespace
