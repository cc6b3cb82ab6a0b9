//===- Llama2cTest.cpp - llama2.c checkpoint and tokenizer loading --------===//

#include "frontend/Checkpoint.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>

using namespace mixq;

namespace {

const std::string kModels = MIXQ_SHARED_MODELS_DIR;

std::string tempPath(const std::string &tag) {
  return ::testing::TempDir() + "/mixq-l2c-" + tag + "-" +
         std::to_string(::getpid());
}

std::vector<uint8_t> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const std::string &path, const uint8_t *data, size_t size) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char *>(data), size);
}

/// A tiny config: dim 8, 2 heads of 4, 1 kv head, hidden 12, 2 layers.
ModelConfig tinyConfig(bool tied) {
  ModelConfig c;
  c.dim = 8;
  c.hiddenDim = 12;
  c.numLayers = 2;
  c.numHeads = 2;
  c.numKvHeads = 1;
  c.headDim = 4;
  c.vocabSize = 5;
  c.maxSeqLen = 6;
  c.tiedEmbeddings = tied;
  return c;
}

/// Tensors whose element i of tensor t is t * 1000 + i.
std::vector<TensorSource> countingTensors(const ModelConfig &config) {
  std::vector<TensorSource> out;
  int index = 0;
  for (const ExpectedTensor &t : expectedTensors(config)) {
    TensorSource src;
    src.name = t.name;
    src.shape = t.shape;
    float base = 1000.0f * index++;
    src.fill = [shape = t.shape, base](uint8_t *dst) {
      int64_t n = 1;
      for (int64_t d : shape)
        n *= d;
      for (int64_t i = 0; i < n; ++i) {
        float v = base + float(i);
        std::memcpy(dst + 4 * i, &v, 4);
      }
      return Status::success();
    };
    out.push_back(std::move(src));
  }
  return out;
}

TEST(Llama2c, Stories260KMatchesItsReadme) {
  std::string path = kModels + "/stories260K.bin";
  if (::access(path.c_str(), R_OK) != 0)
    GTEST_SKIP() << path << " is not available";
  auto model = loadLlama2c(path, "");
  ASSERT_TRUE(model) << model.message();
  const ModelConfig &c = (*model)->config;
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hiddenDim, 172);
  EXPECT_EQ(c.numLayers, 5);
  EXPECT_EQ(c.numHeads, 8);
  EXPECT_EQ(c.numKvHeads, 4);
  EXPECT_EQ(c.headDim, 8);
  EXPECT_EQ(c.vocabSize, 512);
  EXPECT_EQ(c.maxSeqLen, 512);
  EXPECT_TRUE(c.tiedEmbeddings);
  EXPECT_EQ(c.ropeLayout, RopeLayout::Interleaved);
  EXPECT_FLOAT_EQ(c.normEps, 1e-5f);
  EXPECT_FLOAT_EQ(c.ropeTheta, 10000.0f);
  // 1 + 9 per layer + final norm, no lm_head.
  EXPECT_EQ((*model)->weights.size(), 1u + 5 * 9 + 1);
  // Views point into the file where the README says: the token embedding
  // right after the header, layer 1's wq after all of rms_att and layer 0's.
  const TensorView *emb = (*model)->weights.lookup("tok_embed");
  EXPECT_EQ(emb->fileOffset, 28u);
  const TensorView *wq1 = (*model)->weights.lookup("blk1.q_proj");
  EXPECT_EQ(wq1->fileOffset, 28u + 4 * (512 * 64 + 5 * 64 + 64 * 64));
  // The first embedding value, read independently from the raw bytes.
  std::vector<uint8_t> raw = readFile(path);
  float first;
  std::memcpy(&first, raw.data() + 28, 4);
  float viaStore;
  ASSERT_TRUE(readAsF32(*emb, 0, 1, &viaStore));
  EXPECT_EQ(first, viaStore);
}

TEST(Llama2c, Llama2TokenizerLoads) {
  std::string path = kModels + "/llama2-tokenizer.bin";
  if (::access(path.c_str(), R_OK) != 0)
    GTEST_SKIP() << path << " is not available";
  TokenizerData tok;
  ASSERT_TRUE(loadLlama2cTokenizer(path, 32000, tok));
  ASSERT_EQ(tok.tokens.size(), 32000u);
  EXPECT_EQ(tok.tokens[1], "\n<s>\n");
  EXPECT_EQ(tok.tokens[2], "\n</s>\n");
  EXPECT_EQ(tok.tokens[3], "<0x00>");
  EXPECT_EQ(tok.types[3], int32_t(TokenType::Byte));
  EXPECT_EQ(tok.types[1], int32_t(TokenType::Control));
  EXPECT_EQ(tok.bosId, 1);
  EXPECT_EQ(tok.eosId, 2);
  // Asking for more tokens than the file has is a truncation error.
  Status s = loadLlama2cTokenizer(path, 32001, tok);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("token 32000 of 32001"), std::string::npos);
}

TEST(Llama2c, WriteThenLoadRoundTrips) {
  for (bool tied : {true, false}) {
    ModelConfig config = tinyConfig(tied);
    std::string path = tempPath(tied ? "tied" : "untied");
    ASSERT_TRUE(writeLlama2c(path, config, countingTensors(config)));
    // Header 28 bytes, then parameters, then 2 x seq_len x head_dim/2 rope
    // tables.
    EXPECT_EQ(readFile(path).size(),
              28u + 4 * config.numParameters() + 2 * 6 * 2 * 4);
    auto model = loadLlama2c(path, "");
    ASSERT_TRUE(model) << model.message();
    EXPECT_EQ((*model)->config.tiedEmbeddings, tied);
    int index = 0;
    for (const ExpectedTensor &t : expectedTensors(config)) {
      const TensorView *view = (*model)->weights.lookup(t.name);
      ASSERT_NE(view, nullptr) << t.name;
      auto values = readAllAsF32(*view);
      ASSERT_TRUE(values);
      for (size_t i = 0; i < values->size(); ++i)
        ASSERT_EQ((*values)[i], 1000.0f * index + float(i)) << t.name;
      ++index;
    }
    std::remove(path.c_str());
  }
}

TEST(Llama2c, EveryTruncationIsAnError) {
  ModelConfig config = tinyConfig(false);
  std::string path = tempPath("full");
  ASSERT_TRUE(writeLlama2c(path, config, countingTensors(config)));
  std::vector<uint8_t> bytes = readFile(path);
  std::string cut = tempPath("cut");
  for (size_t size = 0; size < bytes.size(); ++size) {
    writeFile(cut, bytes.data(), size);
    auto model = loadLlama2c(cut, "");
    ASSERT_FALSE(model) << "prefix of " << size << " bytes loaded";
    EXPECT_NE(model.message().find(cut), std::string::npos);
  }
  // Trailing garbage is rejected too: the header must explain the size.
  bytes.push_back(0);
  writeFile(cut, bytes.data(), bytes.size());
  auto trailing = loadLlama2c(cut, "");
  ASSERT_FALSE(trailing);
  EXPECT_NE(trailing.message().find("1 unexpected trailing bytes"),
            std::string::npos);
  std::remove(path.c_str());
  std::remove(cut.c_str());
}

TEST(Llama2c, CorruptHeadersAreErrors) {
  auto loadHeader = [](std::vector<int32_t> header) {
    std::string path = tempPath("hdr");
    writeFile(path, reinterpret_cast<const uint8_t *>(header.data()),
              header.size() * 4);
    auto model = loadLlama2c(path, "");
    std::remove(path.c_str());
    return model.ok() ? std::string() : model.message();
  };
  EXPECT_NE(loadHeader({64, 172, 5, 8, 3, 512, 512})
                .find("n_heads (8) is not a multiple of n_kv_heads (3)"),
            std::string::npos);
  EXPECT_NE(loadHeader({64, 172, 0, 8, 4, 512, 512})
                .find("'n_layers' must be positive, got 0"),
            std::string::npos);
  // Huge dimensions must not overflow size arithmetic or allocate.
  EXPECT_NE(loadHeader(
                {1 << 30, 1 << 30, 1 << 30, 1 << 20, 1 << 20, 1 << 30, 1 << 30})
                .find("implausibly large"),
            std::string::npos);
  EXPECT_NE(loadHeader({64, 172, 5, 8, 4, 512, 512}).find("truncated"),
            std::string::npos);
}

} // namespace
