//===- SamplerTest.cpp - runtime/Sampler ----------------------------------===//
//
// The generator is checked against the published xoshiro256** /
// splitmix64 reference outputs; the draws against hand-computed
// probabilities.
//===----------------------------------------------------------------------===//

#include "runtime/Sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using namespace mixq;
using namespace mixq::runtime;

namespace {

SamplingOptions options(float temperature, int32_t topK = 0, float topP = 1.0f,
                        uint64_t seed = 0) {
  SamplingOptions o;
  o.temperature = temperature;
  o.topK = topK;
  o.topP = topP;
  o.seed = seed;
  return o;
}

int32_t sampleOk(Sampler &sampler, const std::vector<float> &logits) {
  Expected<int32_t> id = sampler.sample(logits.data(), logits.size());
  EXPECT_TRUE(id.ok()) << id.message();
  return id ? *id : -1;
}

/// Frequencies of each index over `draws` samples.
std::vector<double> frequencies(Sampler &sampler,
                                const std::vector<float> &logits, int draws) {
  std::vector<double> counts(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) {
    int32_t id = sampleOk(sampler, logits);
    if (id < 0)
      break;
    counts[size_t(id)] += 1.0;
  }
  for (double &c : counts)
    c /= draws;
  return counts;
}

const std::vector<float> kThreeWay = {std::log(0.5f), std::log(0.3f),
                                      std::log(0.2f)};

/// A fixed, irregular logit vector (no two equal).
std::vector<float> irregularLogits(size_t n) {
  std::vector<float> logits(n);
  for (size_t i = 0; i < n; ++i)
    logits[i] = float(std::sin(double(i) * 12.9898) * 4.0 +
                      std::cos(double(i) * 0.37) * 0.5);
  return logits;
}

::testing::AssertionResult failsWith(const Status &status,
                                     const std::string &part) {
  if (status.ok())
    return ::testing::AssertionFailure() << "succeeded unexpectedly";
  if (status.message().find(part) == std::string::npos)
    return ::testing::AssertionFailure()
           << "message \"" << status.message() << "\" lacks \"" << part << "\"";
  return ::testing::AssertionSuccess();
}

} // namespace

TEST(SamplerRng, MatchesTheReferenceOutputs) {
  // splitmix64-seeded xoshiro256**, as published for seeds 0, 1 and 42.
  struct Case {
    uint64_t seed;
    std::array<uint64_t, 4> outputs;
  };
  const Case cases[] = {
      {0,
       {0x99EC5F36CB75F2B4ull, 0xBF6E1F784956452Aull, 0x1A5F849D4933E6E0ull,
        0x6AA594F1262D2D2Cull}},
      {1,
       {0xB3F2AF6D0FC710C5ull, 0x853B559647364CEAull, 0x92F89756082A4514ull,
        0x642E1C7BC266A3A7ull}},
      {42,
       {0x15780B2E0C2EC716ull, 0x6104D9866D113A7Eull, 0xAE17533239E499A1ull,
        0xECB8AD4703B360A1ull}},
  };
  for (const Case &c : cases) {
    Xoshiro256StarStar rng(c.seed);
    for (uint64_t expected : c.outputs)
      EXPECT_EQ(rng.next(), expected) << "seed " << c.seed;
  }
  Xoshiro256StarStar rng(0);
  EXPECT_EQ(rng.uniform(), double(0x99EC5F36CB75F2B4ull >> 11) / 0x1.0p53);
}

TEST(SamplerValidate, NamesTheFlag) {
  EXPECT_TRUE(validate(SamplingOptions()).ok());
  EXPECT_TRUE(validate(options(0.7f, 40, 0.9f, 7)).ok());
  EXPECT_TRUE(validate(options(1.0f, 0, 1.0f)).ok());
  EXPECT_TRUE(failsWith(validate(options(-0.1f)), "--temp"));
  EXPECT_TRUE(failsWith(
      validate(options(std::numeric_limits<float>::quiet_NaN())), "--temp"));
  EXPECT_TRUE(failsWith(
      validate(options(std::numeric_limits<float>::infinity())), "--temp"));
  EXPECT_TRUE(failsWith(validate(options(1.0f, 0, 0.0f)), "--top-p"));
  EXPECT_TRUE(failsWith(validate(options(1.0f, 0, -0.5f)), "--top-p"));
  EXPECT_TRUE(failsWith(validate(options(1.0f, 0, 1.5f)), "--top-p"));
  EXPECT_TRUE(failsWith(
      validate(options(1.0f, 0, std::numeric_limits<float>::quiet_NaN())),
      "--top-p"));
  EXPECT_TRUE(failsWith(validate(options(1.0f, -1)), "--top-k"));

  // A sampler built with bad options fails every sample() with that error.
  Sampler bad(options(1.0f, -3));
  Expected<int32_t> id = bad.sample(kThreeWay.data(), kThreeWay.size());
  EXPECT_TRUE(failsWith(id.status(), "--top-k"));
}

TEST(SamplerGreedy, ArgmaxLowestIndexOnTies) {
  Sampler s(options(0.0f));
  EXPECT_EQ(sampleOk(s, {1.0f, 3.0f, 3.0f, 2.0f}), 1);
  EXPECT_EQ(sampleOk(s, {0.5f, 0.5f, 0.5f}), 0);
  EXPECT_EQ(sampleOk(s, {-2.0f, -1.0f, -1.5f}), 1);
  EXPECT_EQ(sampleOk(s, {7.0f}), 0);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(sampleOk(s, {-inf, -inf, 1.0f, inf, inf}), 3);
  EXPECT_EQ(sampleOk(s, {-inf, -inf}), 0);
  // Greedy never consumes randomness: two samplers with different seeds agree.
  Sampler a(options(0.0f, 0, 1.0f, 1)), b(options(0.0f, 0, 1.0f, 2));
  std::vector<float> logits = irregularLogits(1000);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(sampleOk(a, logits), sampleOk(b, logits));
}

TEST(SamplerErrors, BadLogits) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (float temperature : {0.0f, 1.0f}) {
    Sampler s(options(temperature));
    std::vector<float> logits = {1.0f, 2.0f, nan, 0.0f};
    Expected<int32_t> id = s.sample(logits.data(), logits.size());
    EXPECT_TRUE(failsWith(id.status(), "logit 2 of 4 is NaN"));
    id = s.sample(nullptr, 4);
    EXPECT_FALSE(id.ok());
    id = s.sample(logits.data(), 0);
    EXPECT_FALSE(id.ok());
  }
  Sampler s(options(1.0f));
  std::vector<float> allNegInf = {-inf, -inf, -inf};
  Expected<int32_t> id = s.sample(allNegInf.data(), allNegInf.size());
  EXPECT_TRUE(failsWith(id.status(), "-inf"));
}

TEST(SamplerTemperature, FirstDrawsByHand) {
  // Seed 0's first uniforms are the top 53 bits of 0x99EC5F36CB75F2B4,
  // 0xBF6E..., 0x1A5F..., 0x6AA5... over 2^64: about 0.601, 0.748, 0.103,
  // 0.417. With p = (0.5, 0.3, 0.2) (cumulative 0.5, 0.8, 1.0) they pick 1,
  // 1, 0, 0.
  Sampler s(options(1.0f, 0, 1.0f, 0));
  EXPECT_EQ(sampleOk(s, kThreeWay), 1);
  EXPECT_EQ(sampleOk(s, kThreeWay), 1);
  EXPECT_EQ(sampleOk(s, kThreeWay), 0);
  EXPECT_EQ(sampleOk(s, kThreeWay), 0);
}

TEST(SamplerTemperature, SeedIsDeterministicAndSeedsDiffer) {
  std::vector<float> logits = irregularLogits(50);
  auto run = [&](uint64_t seed) {
    Sampler s(options(1.5f, 0, 1.0f, seed));
    std::vector<int32_t> ids;
    for (int i = 0; i < 200; ++i)
      ids.push_back(sampleOk(s, logits));
    return ids;
  };
  EXPECT_EQ(run(1234), run(1234));
  EXPECT_NE(run(1234), run(1235));
  EXPECT_NE(run(0), run(1));
  // The same holds with both filters on.
  auto runFiltered = [&](uint64_t seed) {
    Sampler s(options(0.8f, 10, 0.9f, seed));
    std::vector<int32_t> ids;
    for (int i = 0; i < 200; ++i)
      ids.push_back(sampleOk(s, logits));
    return ids;
  };
  EXPECT_EQ(runFiltered(99), runFiltered(99));
  EXPECT_NE(runFiltered(99), runFiltered(100));
}

TEST(SamplerTemperature, FrequenciesMatchTheProbabilities) {
  Sampler s(options(1.0f, 0, 1.0f, 2024));
  std::vector<double> f = frequencies(s, kThreeWay, 20000);
  EXPECT_NEAR(f[0], 0.5, 0.02);
  EXPECT_NEAR(f[1], 0.3, 0.02);
  EXPECT_NEAR(f[2], 0.2, 0.02);
  // T = 2 flattens: p ~ sqrt(0.5, 0.3, 0.2) normalized =
  // (0.7071, 0.5477, 0.4472) / 1.7020 = (0.4155, 0.3218, 0.2628).
  Sampler hot(options(2.0f, 0, 1.0f, 7));
  f = frequencies(hot, kThreeWay, 20000);
  EXPECT_NEAR(f[0], 0.4155, 0.02);
  EXPECT_NEAR(f[1], 0.3218, 0.02);
  EXPECT_NEAR(f[2], 0.2628, 0.02);
}

TEST(SamplerTopK, OneIsGreedyAtAnyTemperature) {
  std::vector<float> logits = irregularLogits(3000);
  Sampler greedy(options(0.0f));
  int32_t argmax = sampleOk(greedy, logits);
  for (float temperature : {0.1f, 1.0f, 10.0f, 1000.0f}) {
    Sampler s(options(temperature, 1, 1.0f, 5));
    for (int i = 0; i < 50; ++i)
      EXPECT_EQ(sampleOk(s, logits), argmax) << "T = " << temperature;
  }
  // Ties: the lowest index, as greedy.
  Sampler s(options(100.0f, 1, 1.0f, 5));
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(sampleOk(s, {1.0f, 4.0f, 4.0f, 4.0f}), 1);
}

TEST(SamplerTopK, TwoNeverDrawsTheThird) {
  // Top-2 of (0.5, 0.3, 0.2) renormalized: (0.625, 0.375).
  Sampler s(options(1.0f, 2, 1.0f, 11));
  std::vector<double> f = frequencies(s, kThreeWay, 20000);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_NEAR(f[0], 0.625, 0.02);
  EXPECT_NEAR(f[1], 0.375, 0.02);
  // k >= vocabulary size is off.
  Sampler all(options(1.0f, 3, 1.0f, 11));
  f = frequencies(all, kThreeWay, 20000);
  EXPECT_NEAR(f[2], 0.2, 0.02);
}

TEST(SamplerTopP, TinyPicksTheArgmax) {
  std::vector<float> logits = irregularLogits(3000);
  Sampler greedy(options(0.0f));
  int32_t argmax = sampleOk(greedy, logits);
  for (float temperature : {1.0f, 100.0f}) {
    Sampler s(options(temperature, 0, 1e-6f, 3));
    for (int i = 0; i < 50; ++i)
      EXPECT_EQ(sampleOk(s, logits), argmax);
  }
  // Two tokens, nearly equal: the nucleus of mass 0.1 is the first alone
  // (llama2.c's prefilter would keep neither here).
  Sampler two(options(1.0f, 0, 0.1f, 3));
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(sampleOk(two, {0.0f, -0.01f}), 0);
}

TEST(SamplerTopP, ThreeQuartersNeverDrawsTheThird) {
  // 0.5 < 0.75 <= 0.5 + 0.3: the nucleus is {0, 1}, renormalized
  // (0.625, 0.375).
  Sampler s(options(1.0f, 0, 0.75f, 21));
  std::vector<double> f = frequencies(s, kThreeWay, 20000);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_NEAR(f[0], 0.625, 0.02);
  EXPECT_NEAR(f[1], 0.375, 0.02);
  // 0.9 > 0.8 needs all three.
  Sampler wide(options(1.0f, 0, 0.9f, 21));
  f = frequencies(wide, kThreeWay, 20000);
  EXPECT_NEAR(f[2], 0.2, 0.02);
}

TEST(SamplerTopP, AppliesToTheTopKDistribution) {
  // Logits log(0.4, 0.35, 0.25) with top-k 2: (0.5333, 0.4667). top-p 0.5
  // of that is reached by the first token alone (0.5333 >= 0.5), although
  // 0.4 < 0.5 of the full distribution.
  std::vector<float> logits = {std::log(0.4f), std::log(0.35f),
                               std::log(0.25f)};
  Sampler s(options(1.0f, 2, 0.5f, 8));
  for (int i = 0; i < 200; ++i)
    EXPECT_EQ(sampleOk(s, logits), 0);
}

TEST(SamplerTopKTopP, LargeVocabularyStaysInTheTopK) {
  std::vector<float> logits = irregularLogits(32000);
  // The 40th largest logit: every draw must be at least that.
  std::vector<float> sorted = logits;
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  float fortieth = sorted[39];
  Sampler s(options(0.8f, 40, 0.95f, 77));
  for (int i = 0; i < 500; ++i) {
    int32_t id = sampleOk(s, logits);
    ASSERT_GE(id, 0);
    EXPECT_GE(logits[size_t(id)], fortieth);
  }
  // Top-p alone on a large vocabulary: draws stay within the nucleus. At
  // T = 0.5 a token 5 below the largest logit weighs e^-10 of it, so all such
  // tokens together hold far less than the 0.5 left outside the nucleus.
  Sampler p(options(0.5f, 0, 0.5f, 78));
  float best = sorted[0];
  for (int i = 0; i < 500; ++i) {
    int32_t id = sampleOk(p, logits);
    ASSERT_GE(id, 0);
    EXPECT_GE(logits[size_t(id)], best - 5.0f);
  }
}

TEST(SamplerTemperature, InfiniteLogitsTakeAllTheMass) {
  const float inf = std::numeric_limits<float>::infinity();
  Sampler s(options(1.0f, 0, 1.0f, 4));
  std::vector<float> logits = {0.0f, inf, 5.0f, inf};
  std::vector<double> f = frequencies(s, logits, 4000);
  EXPECT_EQ(f[0] + f[2], 0.0);
  EXPECT_NEAR(f[1], 0.5, 0.05);
  EXPECT_NEAR(f[3], 0.5, 0.05);
  // -inf logits are never drawn.
  Sampler t(options(1.0f, 0, 1.0f, 4));
  f = frequencies(t, {-inf, 0.0f, -inf, 0.0f}, 2000);
  EXPECT_EQ(f[0] + f[2], 0.0);
}

namespace {
/// 40 tokens: even ids p = 0.01 (mass 0.2), odd ids p = 0.04 (mass 0.8).
std::vector<float> twoLevelLogits() {
  std::vector<float> logits(40);
  for (size_t i = 0; i < logits.size(); ++i)
    logits[i] = std::log(i % 2 ? 0.04f : 0.01f);
  return logits;
}
} // namespace

TEST(SamplerTopP, ManyCandidatesAndTies) {
  // More than a handful of candidates (the selection partitions them).
  std::vector<float> logits = twoLevelLogits();
  // 19 * 0.04 = 0.76 < 0.79 <= 0.80: exactly the 20 odd ids, each drawn
  // with 0.04 / 0.8 = 0.05.
  Sampler s(options(1.0f, 0, 0.79f, 5));
  std::vector<double> f = frequencies(s, logits, 20000);
  for (size_t i = 0; i < 40; ++i) {
    if (i % 2 == 0)
      EXPECT_EQ(f[i], 0.0) << i;
    else
      EXPECT_NEAR(f[i], 0.05, 0.012) << i;
  }
  // 0.80 < 0.805 <= 0.81: one even id joins, and on equal logits the lowest
  // index comes first: id 0, drawn with 0.01 / 0.81 = 0.0123.
  Sampler t(options(1.0f, 0, 0.805f, 6));
  f = frequencies(t, logits, 20000);
  EXPECT_NEAR(f[0], 0.0123, 0.005);
  for (size_t i = 2; i < 40; i += 2)
    EXPECT_EQ(f[i], 0.0) << i;
}

TEST(SamplerTopKTopP, ManyCandidatesAndTies) {
  std::vector<float> logits = twoLevelLogits();
  // Top-25: the 20 odd ids and the five lowest even ids 0, 2, 4, 6, 8.
  Sampler k(options(1.0f, 25, 1.0f, 9));
  std::vector<double> f = frequencies(k, logits, 20000);
  for (size_t i = 0; i < 40; i += 2) {
    if (i < 10)
      EXPECT_NEAR(f[i], 0.01 / 0.85, 0.006) << i;
    else
      EXPECT_EQ(f[i], 0.0) << i;
  }
  // Then top-p 0.95 of those 0.85: 0.8075, reached by the odd ids and id 0
  // (0.80 < 0.8075 <= 0.81).
  Sampler kp(options(1.0f, 25, 0.95f, 9));
  f = frequencies(kp, logits, 20000);
  EXPECT_GT(f[0], 0.0);
  for (size_t i = 2; i < 40; i += 2)
    EXPECT_EQ(f[i], 0.0) << i;
}

TEST(SamplerTopP, DrawsStayInTheNucleus) {
  // The nucleus by a plain sort in double precision; draws must stay in it
  // (one extra token of slack for rounding at the boundary).
  std::vector<float> logits = irregularLogits(1000);
  std::vector<int32_t> byLogit(logits.size());
  for (size_t i = 0; i < byLogit.size(); ++i)
    byLogit[i] = int32_t(i);
  std::sort(byLogit.begin(), byLogit.end(), [&](int32_t a, int32_t b) {
    return logits[size_t(a)] != logits[size_t(b)]
               ? logits[size_t(a)] > logits[size_t(b)]
               : a < b;
  });
  double maxLogit = logits[size_t(byLogit[0])];
  double total = 0.0;
  for (float l : logits)
    total += std::exp(double(l) - maxLogit);
  for (float topP : {0.3f, 0.6f, 0.9f}) {
    std::vector<bool> inNucleus(logits.size(), false);
    double cumulative = 0.0;
    size_t size = 0;
    for (int32_t id : byLogit) {
      inNucleus[size_t(id)] = true;
      ++size;
      cumulative += std::exp(double(logits[size_t(id)]) - maxLogit);
      if (cumulative >= double(topP) * total) {
        break;
      }
    }
    if (size < byLogit.size())
      inNucleus[size_t(byLogit[size])] = true; // slack
    Sampler s(options(1.0f, 0, topP, 17));
    size_t distinct = 0;
    std::vector<bool> seen(logits.size(), false);
    for (int i = 0; i < 3000; ++i) {
      int32_t id = sampleOk(s, logits);
      ASSERT_GE(id, 0);
      EXPECT_TRUE(inNucleus[size_t(id)]) << "top-p " << topP << " drew " << id;
      if (!seen[size_t(id)]) {
        seen[size_t(id)] = true;
        ++distinct;
      }
    }
    // Not just the argmax: a good part of the nucleus shows up.
    EXPECT_GT(distinct, size / 3) << "top-p " << topP;
  }
}
