//===- CrossFormatTest.cpp - One model, three formats, equal tensors ------===//
//
// The tiny synthetic preset is written as GGUF, as a Hugging Face folder and
// as a llama2.c .bin; all three load to the same config and the same logical
// tensors. The Hugging Face q/k rows are in the rotate-half layout, so they
// equal the others' rows after the converters' permutation, which this test
// applies itself (row r of HF = row src[r] of GGUF).
//===----------------------------------------------------------------------===//

#include "frontend/Checkpoint.h"
#include "frontend/Synth.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <unistd.h>

using namespace mixq;

namespace {

std::string tempPath(const std::string &tag) {
  return ::testing::TempDir() + "/mixq-xfmt-" + tag + "-" +
         std::to_string(::getpid());
}

std::vector<float> rowOf(const TensorView &view, int64_t row) {
  std::vector<float> out(view.rowLength());
  EXPECT_TRUE(readRowsAsF32(view, row, 1, out.data()));
  return out;
}

/// Heads of the projection `name` (q or k), or 0 for unpermuted tensors.
int64_t permutedHeads(const std::string &name, const ModelConfig &c) {
  auto endsWith = [&](const char *suffix) {
    std::string s = suffix;
    return name.size() >= s.size() &&
           name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  if (endsWith(".q_proj"))
    return c.numHeads;
  if (endsWith(".k_proj"))
    return c.numKvHeads;
  return 0;
}

TEST(CrossFormat, TinyPresetLoadsEquallyFromAllFormats) {
  auto config = presetConfig("tiny");
  ASSERT_TRUE(config) << config.message();
  std::string gguf = tempPath("tiny.gguf"), hf = tempPath("tiny-hf"),
              l2c = tempPath("tiny.bin");
  ASSERT_TRUE(writeSynthCheckpoint(gguf, "tiny", "gguf", 7, std::nullopt));
  ASSERT_TRUE(writeSynthCheckpoint(hf, "tiny", "safetensors", 7, std::nullopt));
  ASSERT_TRUE(writeSynthCheckpoint(l2c, "tiny", "llama2c", 7, std::nullopt));

  auto a = loadCheckpoint(gguf);
  auto b = loadCheckpoint(hf);
  auto c = loadCheckpoint(l2c);
  ASSERT_TRUE(a) << a.message();
  ASSERT_TRUE(b) << b.message();
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ((*a)->format, "gguf");
  EXPECT_EQ((*b)->format, "safetensors");
  EXPECT_EQ((*c)->format, "llama2c");
  EXPECT_EQ((*a)->config.ropeLayout, RopeLayout::Interleaved);
  EXPECT_EQ((*b)->config.ropeLayout, RopeLayout::RotateHalf);
  EXPECT_EQ((*c)->config.ropeLayout, RopeLayout::Interleaved);
  for (const Model *m : {b->get(), c->get()}) {
    const ModelConfig &x = (*a)->config, &y = m->config;
    EXPECT_EQ(x.dim, y.dim);
    EXPECT_EQ(x.hiddenDim, y.hiddenDim);
    EXPECT_EQ(x.numLayers, y.numLayers);
    EXPECT_EQ(x.numHeads, y.numHeads);
    EXPECT_EQ(x.numKvHeads, y.numKvHeads);
    EXPECT_EQ(x.headDim, y.headDim);
    EXPECT_EQ(x.vocabSize, y.vocabSize);
    EXPECT_EQ(x.tiedEmbeddings, y.tiedEmbeddings);
    EXPECT_EQ(x.normEps, y.normEps);
    EXPECT_EQ(x.ropeTheta, y.ropeTheta);
  }
  // The tokenizer travels in GGUF metadata and tokenizer.json alike.
  EXPECT_EQ((*a)->tokenizer.tokens, (*b)->tokenizer.tokens);
  EXPECT_EQ((*a)->tokenizer.bosId, (*b)->tokenizer.bosId);
  EXPECT_EQ((*a)->tokenizer.eosId, (*b)->tokenizer.eosId);

  int64_t checked = 0;
  for (const ExpectedTensor &t : expectedTensors((*a)->config)) {
    const TensorView *ga = (*a)->weights.lookup(t.name);
    const TensorView *hb = (*b)->weights.lookup(t.name);
    const TensorView *lc = (*c)->weights.lookup(t.name);
    ASSERT_TRUE(ga && hb && lc) << t.name;
    ASSERT_EQ(ga->shape, t.shape);
    ASSERT_EQ(hb->shape, t.shape);
    ASSERT_EQ(lc->shape, t.shape);
    int64_t heads = permutedHeads(t.name, (*a)->config);
    std::vector<int64_t> sourceRow(ga->numRows());
    for (int64_t r = 0; r < ga->numRows(); ++r)
      sourceRow[r] = r;
    if (heads)
      sourceRow = interleavedToRotateHalfRows(heads, (*a)->config.headDim);
    for (int64_t r = 0; r < ga->numRows(); ++r) {
      ASSERT_EQ(rowOf(*ga, r), rowOf(*lc, r)) << t.name << " row " << r;
      ASSERT_EQ(rowOf(*hb, r), rowOf(*ga, sourceRow[r]))
          << t.name << " row " << r;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 1 + 9 * (*a)->config.numLayers + 1 +
                         ((*a)->config.tiedEmbeddings ? 0 : 1));
  std::remove(gguf.c_str());
  std::remove(l2c.c_str());
  std::system(("rm -rf '" + hf + "'").c_str());
}

TEST(Checkpoint, DetectsLlama2cAndAppliesOverrides) {
  std::string path = std::string(MIXQ_SHARED_MODELS_DIR) + "/stories260K.bin";
  if (::access(path.c_str(), R_OK) != 0)
    GTEST_SKIP() << path << " is not available";
  LoadOptions options;
  options.maxSeqLenOverride = 128;
  auto model = loadCheckpoint(path, options);
  ASSERT_TRUE(model) << model.message();
  EXPECT_EQ((*model)->format, "llama2c");
  EXPECT_EQ((*model)->config.maxSeqLen, 128);
  auto missing = loadCheckpoint("/nonexistent/model.gguf");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("/nonexistent/model.gguf: cannot open"),
            std::string::npos);
}

} // namespace
