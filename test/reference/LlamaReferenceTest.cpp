//===- LlamaReferenceTest.cpp - Checks of the fp32 reference forward ------===//
//
// The reference is what the compiler is judged by, so it is checked on its
// own: single ops against values worked out by hand, a one-layer model small
// enough to follow on paper (GQA, causal attention over a cached position),
// invariances that must hold exactly (rope layouts, batched vs one-by-one),
// and agreement across the three checkpoint formats of one model.
//===----------------------------------------------------------------------===//

#include "test/reference/LlamaReference.h"

#include "frontend/Checkpoint.h"
#include "frontend/Synth.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <unistd.h>

using namespace mixq;

namespace {

constexpr const char *kStories = MIXQ_SHARED_MODELS_DIR "/stories260K.bin";

std::string tempPath(const std::string &tag) {
  return ::testing::TempDir() + "/mixq-ref-" + tag + "-" +
         std::to_string(::getpid());
}

void addF32(Model &model, const std::string &name, std::vector<int64_t> shape,
            const std::vector<float> &values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(float));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  Status s = model.weights.addOwnedTensor(name, DType::F32, std::move(shape),
                                          std::move(bytes));
  ASSERT_TRUE(s) << s.message();
}

float maxAbsDiff(const std::vector<float> &a, const std::vector<float> &b) {
  EXPECT_EQ(a.size(), b.size());
  float diff = 0.0f;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    diff = std::max(diff, std::fabs(a[i] - b[i]));
  return diff;
}

LlamaReference makeReference(const Model &model) {
  auto ref = LlamaReference::create(model);
  EXPECT_TRUE(ref) << ref.message();
  return ref.take();
}

//===----------------------------------------------------------------------===//
// Single ops, by hand
//===----------------------------------------------------------------------===//

TEST(ReferenceOps, RMSNorm) {
  // mean(x^2) = (1 + 4 + 9 + 16) / 4 = 7.5; r = 1 / sqrt(7.5 + 1e-5)
  // = 0.36514813; out = x * r * w = [r, 2r, 6r, 2r].
  float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 2, 0.5f}, out[4];
  reference::rmsNorm(x, w, 4, 1e-5f, out);
  EXPECT_NEAR(out[0], 0.36514813f, 1e-6);
  EXPECT_NEAR(out[1], 0.73029626f, 1e-6);
  EXPECT_NEAR(out[2], 2.19088877f, 1e-6);
  EXPECT_NEAR(out[3], 0.73029626f, 1e-6);
}

TEST(ReferenceOps, RopeFrequencies) {
  // Dh = 8, theta = 10000: freq_i = 10000^(-2i/8) = 1, 0.1, 0.01, 0.001.
  std::vector<float> plain = reference::ropeFrequencies(8, 10000.0f, {});
  ASSERT_EQ(plain.size(), 4u);
  EXPECT_NEAR(plain[0], 1.0f, 1e-7);
  EXPECT_NEAR(plain[1], 0.1f, 1e-7);
  EXPECT_NEAR(plain[2], 0.01f, 1e-8);
  EXPECT_NEAR(plain[3], 0.001f, 1e-9);

  // llama3 scaling, factor 8, low/high freq factors 1/4, original 1000:
  // low = 1000, high = 250. Wavelengths 2pi/freq = 6.28, 62.8, 628, 6283:
  // the first two are < high (kept), the last > low (divided by 8), and
  // 628.3 is in between: t = (1000 / 628.3185 - 1) / 3 = 0.19718314,
  // freq = (1 - t) * 0.01 / 8 + t * 0.01 = 0.00297535.
  RopeScaling scaling;
  scaling.factor = 8.0f;
  scaling.lowFreqFactor = 1.0f;
  scaling.highFreqFactor = 4.0f;
  scaling.originalMaxPositions = 1000;
  std::vector<float> scaled = reference::ropeFrequencies(8, 10000.0f, scaling);
  EXPECT_NEAR(scaled[0], 1.0f, 1e-7);
  EXPECT_NEAR(scaled[1], 0.1f, 1e-7);
  EXPECT_NEAR(scaled[2], 0.00297535f, 1e-8);
  EXPECT_NEAR(scaled[3], 0.000125f, 1e-10);
}

// One head of Dh = 4 at position 2, theta 10000: freqs 1 and 0.01, angles
// 2 and 0.02. cos 2 = -0.41614684, sin 2 = 0.90929743, cos 0.02 =
// 0.99980001, sin 0.02 = 0.01999867.
TEST(ReferenceOps, RopeInterleaved) {
  // Pairs (x0, x1) = (1, 2) by 2 rad and (x2, x3) = (3, 4) by 0.02 rad:
  //   1 cos2 - 2 sin2 = -2.23474169     1 sin2 + 2 cos2 = 0.07700375
  //   3 cos.02 - 4 sin.02 = 2.91940535  3 sin.02 + 4 cos.02 = 4.05919603
  std::vector<float> freqs = reference::ropeFrequencies(4, 10000.0f, {});
  float x[4] = {1, 2, 3, 4};
  reference::applyRope(x, 1, 4, 2, freqs, RopeLayout::Interleaved);
  EXPECT_NEAR(x[0], -2.23474169f, 1e-5);
  EXPECT_NEAR(x[1], 0.07700375f, 1e-5);
  EXPECT_NEAR(x[2], 2.91940535f, 1e-5);
  EXPECT_NEAR(x[3], 4.05919603f, 1e-5);
}

TEST(ReferenceOps, RopeRotateHalf) {
  // Pairs (x0, x2) = (1, 3) by 2 rad and (x1, x3) = (2, 4) by 0.02 rad:
  //   x0 = 1 cos2 - 3 sin2 = -3.14403912   x2 = 1 sin2 + 3 cos2 = -0.33914308
  //   x1 = 2 cos.02 - 4 sin.02 = 1.91960535 x3 = 2 sin.02 + 4 cos.02
  //   = 4.03919736
  // The second head, all zeros, stays zero; position 0 is the identity.
  std::vector<float> freqs = reference::ropeFrequencies(4, 10000.0f, {});
  float x[8] = {1, 2, 3, 4, 0, 0, 0, 0};
  reference::applyRope(x, 2, 4, 2, freqs, RopeLayout::RotateHalf);
  EXPECT_NEAR(x[0], -3.14403912f, 1e-5);
  EXPECT_NEAR(x[1], 1.91960535f, 1e-5);
  EXPECT_NEAR(x[2], -0.33914308f, 1e-5);
  EXPECT_NEAR(x[3], 4.03919736f, 1e-5);
  for (int i = 4; i < 8; ++i)
    EXPECT_EQ(x[i], 0.0f);
  float y[4] = {1, 2, 3, 4};
  reference::applyRope(y, 1, 4, 0, freqs, RopeLayout::RotateHalf);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[3], 4.0f);
}

//===----------------------------------------------------------------------===//
// A one-layer model worked out by hand
//===----------------------------------------------------------------------===//

// dim 4, 4 query heads of Dh = 2 over 2 kv heads (query heads 0, 1 read kv
// head 0; 2, 3 read kv head 1), vocab 4, identity lm_head, a zero FFN:
//   embeddings  tok0 = [1, 1, 1, 1], tok1 = [1, -1, -1, 1] (rms 1, so the
//               norms only scale by u = 1 / sqrt(1 + eps))
//   q heads     (x0, x1), (x1, x0), (x2, x3), (x3, x2)
//   k = x, v = [x0, x1, 3 x2, 3 x3] (kv head 1's values are 3x, so a wrong
//               head mapping shows)
//   o_proj      out[h] = attn_h[0] + attn_h[1]
Model handModel() {
  Model m;
  m.source = "hand";
  ModelConfig &c = m.config;
  c.dim = 4;
  c.hiddenDim = 1;
  c.numLayers = 1;
  c.numHeads = 4;
  c.numKvHeads = 2;
  c.headDim = 2;
  c.vocabSize = 4;
  c.maxSeqLen = 3;
  c.normEps = 1e-5f;
  c.ropeTheta = 10000.0f;
  c.tiedEmbeddings = false;
  std::vector<float> ones(4, 1.0f);
  addF32(m, "tok_embed", {4, 4},
         {1, 1, 1, 1, 1, -1, -1, 1, 0, 0, 0, 0, 0, 0, 0, 0});
  addF32(m, "blk0.attn_norm", {4}, ones);
  addF32(m, "blk0.q_proj", {8, 4},
         {1, 0, 0, 0, 0, 1, 0, 0,   // head 0: (x0, x1)
          0, 1, 0, 0, 1, 0, 0, 0,   // head 1: (x1, x0)
          0, 0, 1, 0, 0, 0, 0, 1,   // head 2: (x2, x3)
          0, 0, 0, 1, 0, 0, 1, 0}); // head 3: (x3, x2)
  addF32(m, "blk0.k_proj", {4, 4},
         {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
  addF32(m, "blk0.v_proj", {4, 4},
         {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 3, 0, 0, 0, 0, 3});
  addF32(m, "blk0.o_proj", {4, 8},
         {1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0,
          0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1});
  addF32(m, "blk0.ffn_norm", {4}, ones);
  addF32(m, "blk0.gate_proj", {1, 4}, {1, 1, 1, 1});
  addF32(m, "blk0.up_proj", {1, 4}, {1, 1, 1, 1});
  addF32(m, "blk0.down_proj", {4, 1}, {0, 0, 0, 0});
  addF32(m, "final_norm", {4}, ones);
  addF32(m, "lm_head", {4, 4},
         {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
  return m;
}

/// The final norm and identity head: logits = h / rms(h).
std::vector<float> normed(std::vector<float> h) {
  float ss = 0.0f;
  for (float v : h)
    ss += v * v;
  float r = 1.0f / std::sqrt(ss / 4.0f + 1e-5f);
  for (float &v : h)
    v *= r;
  return h;
}

TEST(ReferenceHandModel, AttentionWithGQAOverTwoPositions) {
  Model model = handModel();
  LlamaReference ref = makeReference(model);
  const float u = 1.0f / std::sqrt(1.0f + 1e-5f);

  // Position 0, token 0: one cached position, so every head returns its kv
  // head's value (u, u) or (3u, 3u): out = [2u, 2u, 6u, 6u].
  std::vector<float> logits;
  ASSERT_TRUE(ref.forward(0, 0, logits));
  std::vector<float> expect0 =
      normed({1 + 2 * u, 1 + 2 * u, 1 + 6 * u, 1 + 6 * u});
  EXPECT_LT(maxAbsDiff(logits, expect0), 1e-5f);

  // Position 1, token 1: xn = [1, -1, -1, 1] u, rotated by 1 rad (c, s =
  // cos 1, sin 1); key 0 is (u, u) in both kv heads (position 0 is not
  // rotated), key 1 is rot(1, -1) u = (c + s, s - c) u in kv head 0 and
  // rot(-1, 1) u = (-c - s, c - s) u in kv head 1. With |rot(.)|^2 = 2:
  //   head 0: q = (c + s, s - c) u  -> q.k0 =  2s u^2, q.k1 =  2 u^2
  //   head 1: q = (-c - s, c - s) u -> q.k0 = -2s u^2, q.k1 = -2 u^2
  //   head 2: q = (-c - s, c - s) u -> q.k0 = -2s u^2, q.k1 =  2 u^2
  //   head 3: q = (c + s, s - c) u  -> q.k0 =  2s u^2, q.k1 = -2 u^2
  // Values v0 = (1, 1) u, v1 = (1, -1) u (kv 0) and 3x that (kv 1), so
  // out[h] = p0 * 2u (heads 0, 1) or p0 * 6u (heads 2, 3), where
  // p0 = 1 / (1 + exp(scale * (q.k1 - q.k0))), scale = 1 / sqrt(2).
  // cos 1 cancels out of every dot product above.
  const float s = std::sin(1.0f);
  const float scale = 1.0f / std::sqrt(2.0f), uu = u * u;
  auto p0 = [&](float dot0, float dot1) {
    return 1.0f / (1.0f + std::exp(scale * (dot1 - dot0)));
  };
  std::vector<float> h1 = {
      1 + 2 * u * p0(2 * s * uu, 2 * uu),
      -1 + 2 * u * p0(-2 * s * uu, -2 * uu),
      -1 + 6 * u * p0(-2 * s * uu, 2 * uu),
      1 + 6 * u * p0(2 * s * uu, -2 * uu),
  };
  ASSERT_TRUE(ref.forward(1, 1, logits));
  EXPECT_LT(maxAbsDiff(logits, normed(h1)), 1e-5f);

  // The same two tokens as one prefill batch: causal masking keeps row 0
  // from seeing row 1.
  ref.reset();
  std::vector<float> batched;
  ASSERT_TRUE(ref.prefill({0, 1}, 0, batched));
  EXPECT_LT(maxAbsDiff(batched, normed(h1)), 1e-5f);
  EXPECT_EQ(ref.numCached(), 2);
}

TEST(ReferenceHandModel, BadInputErrors) {
  Model model = handModel();
  LlamaReference ref = makeReference(model);
  std::vector<float> logits;
  Status s = ref.forward(4, 0, logits);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(), "token id 4 is out of range [0, 4)");
  s = ref.forward(-1, 0, logits);
  EXPECT_FALSE(s);
  s = ref.forward(0, 1, logits);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(),
            "position 1 skips ahead of the cache (0 positions cached)");
  s = ref.prefill({}, 0, logits);
  EXPECT_FALSE(s);

  // A model whose tensors do not match its config is refused.
  Model broken = handModel();
  broken.config.hiddenDim = 2;
  auto bad = LlamaReference::create(broken);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("gate_proj"), std::string::npos)
      << bad.message();
}

TEST(ReferenceHandModel, ContextOverflow) {
  Model model = handModel(); // max_seq_len 3
  LlamaReference ref = makeReference(model);
  std::vector<float> logits;
  ASSERT_TRUE(ref.prefill({0, 1, 0}, 0, logits));
  Status s = ref.forward(1, 3, logits);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(), "context overflow: position 3 >= max_seq_len 3");

  // Checked before anything runs: the cache keeps its 3 positions.
  ref.reset();
  s = ref.prefill({0, 1, 0, 1}, 0, logits);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(), "context overflow: position 3 >= max_seq_len 3");
  EXPECT_EQ(ref.numCached(), 0);
}

//===----------------------------------------------------------------------===//
// Rope layout invariance
//===----------------------------------------------------------------------===//

/// A small random model (tied head) with q/k rows in `layout`: RotateHalf
/// moves row src[r] of the interleaved q/k to row r, as HF's converters do.
Model randomModel(RopeLayout layout, bool llama3Scaling) {
  Model m;
  m.source = "random";
  ModelConfig &c = m.config;
  c.dim = 32;
  c.hiddenDim = 48;
  c.numLayers = 2;
  c.numHeads = 4;
  c.numKvHeads = 2;
  c.headDim = 8;
  c.vocabSize = 40;
  c.maxSeqLen = 24;
  c.ropeLayout = layout;
  c.tiedEmbeddings = true;
  if (llama3Scaling) {
    // Keeps, blends and divides one frequency each (see RopeFrequencies).
    c.ropeScaling.factor = 8.0f;
    c.ropeScaling.originalMaxPositions = 1000;
  }
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> weight(-0.5f, 0.5f);
  std::uniform_real_distribution<float> norm(0.8f, 1.2f);
  for (const ExpectedTensor &t : expectedTensors(c)) {
    bool isNorm = t.shape.size() == 1;
    int64_t rows = isNorm ? 1 : t.shape[0], cols = t.shape.back();
    std::vector<float> values(rows * cols);
    for (float &v : values)
      v = isNorm ? norm(rng) : weight(rng);
    int64_t heads = 0;
    if (t.name.find(".q_proj") != std::string::npos)
      heads = c.numHeads;
    else if (t.name.find(".k_proj") != std::string::npos)
      heads = c.numKvHeads;
    if (heads && layout == RopeLayout::RotateHalf) {
      std::vector<int64_t> src = interleavedToRotateHalfRows(heads, c.headDim);
      std::vector<float> permuted(values.size());
      for (int64_t r = 0; r < rows; ++r)
        std::copy_n(values.begin() + src[r] * cols, cols,
                    permuted.begin() + r * cols);
      values = std::move(permuted);
    }
    addF32(m, t.name, t.shape, values);
  }
  return m;
}

class ReferenceRopeLayout : public ::testing::TestWithParam<bool> {};

TEST_P(ReferenceRopeLayout, RotateHalfWithPermutedRowsGivesSameLogits) {
  bool scaling = GetParam();
  Model inter = randomModel(RopeLayout::Interleaved, scaling);
  Model half = randomModel(RopeLayout::RotateHalf, scaling);
  LlamaReference a = makeReference(inter);
  LlamaReference b = makeReference(half);

  std::vector<std::vector<float>> logitsA, logitsB;
  std::vector<int32_t> tokensA = a.greedy(1, 20, &logitsA);
  std::vector<int32_t> tokensB = b.greedy(1, 20, &logitsB);
  ASSERT_EQ(tokensA.size(), 20u);
  EXPECT_EQ(tokensA, tokensB);
  for (size_t i = 0; i < logitsA.size(); ++i)
    EXPECT_LT(maxAbsDiff(logitsA[i], logitsB[i]), 1e-5f) << "step " << i;

  // The rows really differ and rope really matters: without the
  // permutation, the rotate-half model is a different model.
  Model unpermuted = randomModel(RopeLayout::Interleaved, scaling);
  unpermuted.config.ropeLayout = RopeLayout::RotateHalf;
  LlamaReference wrong = makeReference(unpermuted);
  std::vector<std::vector<float>> logitsWrong;
  wrong.greedy(1, 20, &logitsWrong);
  EXPECT_GT(maxAbsDiff(logitsA.back(), logitsWrong.back()), 1e-3f);
}

INSTANTIATE_TEST_SUITE_P(Scaling, ReferenceRopeLayout, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool> &info) {
                           return info.param ? "Llama3Scaling" : "NoScaling";
                         });

TEST(ReferenceRope, Llama3ScalingChangesLaterPositions) {
  LlamaReference plain =
      makeReference(randomModel(RopeLayout::Interleaved, false));
  LlamaReference scaled =
      makeReference(randomModel(RopeLayout::Interleaved, true));
  std::vector<std::vector<float>> a, b;
  plain.greedy(1, 12, &a);
  scaled.greedy(1, 12, &b);
  // Position 0 is not rotated at all; later ones rotate differently.
  EXPECT_EQ(maxAbsDiff(a[0], b[0]), 0.0f);
  EXPECT_GT(maxAbsDiff(a.back(), b.back()), 1e-4f);
}

//===----------------------------------------------------------------------===//
// stories260K
//===----------------------------------------------------------------------===//

class ReferenceStories : public ::testing::Test {
protected:
  void SetUp() override {
    if (::access(kStories, R_OK) != 0)
      GTEST_SKIP() << kStories << " is not available";
    auto model = loadCheckpoint(kStories);
    ASSERT_TRUE(model) << model.message();
    model_ = model.take();
  }
  std::unique_ptr<Model> model_;
};

TEST_F(ReferenceStories, GreedyFromBOSIsDeterministicAndFinite) {
  LlamaReference ref = makeReference(*model_);
  EXPECT_EQ(ref.config().ropeLayout, RopeLayout::Interleaved);
  EXPECT_TRUE(ref.config().tiedEmbeddings);
  std::vector<std::vector<float>> logits1, logits2;
  std::vector<int32_t> first = ref.greedy(1, 32, &logits1);
  std::vector<int32_t> second = ref.greedy(1, 32, &logits2);
  ASSERT_EQ(first.size(), 32u);
  EXPECT_EQ(first, second);
  for (size_t i = 0; i < logits1.size(); ++i) {
    ASSERT_EQ(logits1[i].size(), 512u);
    EXPECT_EQ(logits1[i], logits2[i]) << "step " << i;
    for (float v : logits1[i])
      ASSERT_TRUE(std::isfinite(v)) << "step " << i;
  }
  // llama2.c cannot run here, so these ids come from a line-by-line Python
  // transliteration of run.c's forward() (double precision, reading the
  // .bin directly, not through our loader), run greedily from BOS.
  const std::vector<int32_t> expected = {
      461, 461, 401, 401, 401, 461, 378, 455, 473, 456, 435,
      299, 362, 409, 283, 264, 283, 452, 288, 13,  431, 431,
      431, 431, 431, 431, 431, 431, 431, 431, 431, 431};
  EXPECT_EQ(first, expected);
}

TEST_F(ReferenceStories, PrefillEqualsTokenByTokenForward) {
  LlamaReference ref = makeReference(*model_);
  // A realistic prompt: BOS and the model's own first 15 greedy tokens.
  std::vector<int32_t> prompt = {1};
  for (int32_t t : ref.greedy(1, 15))
    prompt.push_back(t);
  ASSERT_EQ(prompt.size(), 16u);

  ref.reset();
  std::vector<float> stepLogits;
  for (size_t i = 0; i < prompt.size(); ++i)
    ASSERT_TRUE(ref.forward(prompt[i], int64_t(i), stepLogits));
  std::vector<float> nextStep;
  ASSERT_TRUE(ref.forward(7, 16, nextStep));

  ref.reset();
  std::vector<float> batched;
  ASSERT_TRUE(ref.prefill(prompt, 0, batched));
  EXPECT_LT(maxAbsDiff(batched, stepLogits), 1e-5f);
  // Decode continues from the prefilled cache as from the stepped one.
  std::vector<float> nextBatched;
  ASSERT_TRUE(ref.forward(7, 16, nextBatched));
  EXPECT_LT(maxAbsDiff(nextBatched, nextStep), 1e-5f);

  // Two chunks (prefill at a non-zero start) give the same as one.
  ref.reset();
  std::vector<float> chunked;
  ASSERT_TRUE(ref.prefill({prompt.begin(), prompt.begin() + 9}, 0, chunked));
  ASSERT_TRUE(ref.prefill({prompt.begin() + 9, prompt.end()}, 9, chunked));
  EXPECT_LT(maxAbsDiff(chunked, stepLogits), 1e-5f);
}

TEST_F(ReferenceStories, ContextOverflowAtMaxSeqLen) {
  LlamaReference ref = makeReference(*model_);
  ASSERT_EQ(ref.config().maxSeqLen, 512);
  std::vector<int32_t> tokens(512, 1);
  std::vector<float> logits;
  ASSERT_TRUE(ref.prefill(tokens, 0, logits));
  Status s = ref.forward(1, 512, logits);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(), "context overflow: position 512 >= max_seq_len 512");
  // greedy() stops at the end of the context instead of failing.
  EXPECT_EQ(ref.greedy(1, 600).size(), 512u);
}

TEST_F(ReferenceStories, Timing128Steps) {
  LlamaReference ref = makeReference(*model_);
  auto start = std::chrono::steady_clock::now();
  std::vector<int32_t> tokens = ref.greedy(1, 128);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_EQ(tokens.size(), 128u);
  // Reported, not asserted: test machines vary.
  RecordProperty("greedy_128_seconds", std::to_string(seconds));
  std::printf("stories260K: 128 greedy steps in %.3f s\n", seconds);
}

//===----------------------------------------------------------------------===//
// One model, three formats
//===----------------------------------------------------------------------===//

TEST(ReferenceFormats, TinyPresetAgreesAcrossFormats) {
  std::string gguf = tempPath("tiny.gguf"), hf = tempPath("tiny-hf"),
              l2c = tempPath("tiny.bin");
  ASSERT_TRUE(writeSynthCheckpoint(gguf, "tiny", "gguf", 7, std::nullopt));
  ASSERT_TRUE(writeSynthCheckpoint(hf, "tiny", "safetensors", 7, std::nullopt));
  ASSERT_TRUE(writeSynthCheckpoint(l2c, "tiny", "llama2c", 7, std::nullopt));
  std::vector<std::unique_ptr<Model>> models;
  for (const std::string &path : {gguf, hf, l2c}) {
    auto model = loadCheckpoint(path);
    ASSERT_TRUE(model) << model.message();
    models.push_back(model.take());
  }
  // The Hugging Face copy really is in the other layout.
  EXPECT_EQ(models[0]->config.ropeLayout, RopeLayout::Interleaved);
  EXPECT_EQ(models[1]->config.ropeLayout, RopeLayout::RotateHalf);
  EXPECT_EQ(models[2]->config.ropeLayout, RopeLayout::Interleaved);

  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::vector<std::vector<float>>> logits;
  for (const auto &model : models) {
    LlamaReference ref = makeReference(*model);
    logits.emplace_back();
    tokens.push_back(ref.greedy(1, 32, &logits.back()));
    ASSERT_EQ(tokens.back().size(), 32u) << model->format;
  }
  for (size_t f = 1; f < models.size(); ++f) {
    EXPECT_EQ(tokens[f], tokens[0]) << models[f]->format;
    for (size_t i = 0; i < logits[0].size(); ++i)
      EXPECT_LT(maxAbsDiff(logits[f][i], logits[0][i]), 1e-4f)
          << models[f]->format << " step " << i;
  }
  std::error_code ignored;
  for (const std::string &path : {gguf, hf, l2c})
    std::filesystem::remove_all(path, ignored);
}

} // namespace
