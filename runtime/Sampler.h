//===- Sampler.h - Next-token sampling: greedy, top-k, top-p ----*- C++ -*-===//
//
// Picks the next token from a row of logits. Temperature 0 is greedy
// (argmax); otherwise softmax(logits / T), then top-k, then top-p, then one
// draw from a seeded xoshiro256** generator. The generator and the draw are
// specified exactly (no std::*_distribution, whose output differs between
// standard libraries), so a seed gives the same tokens everywhere.
//
// Plain C++17: no MLIR or LLVM.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_RUNTIME_SAMPLER_H
#define MIXQ_RUNTIME_SAMPLER_H

#include "support/Expected.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mixq::runtime {

struct SamplingOptions {
  /// 0 = greedy. Must be finite and >= 0.
  float temperature = 0.0f;
  /// Keep only the k most likely tokens; 0 = off.
  int32_t topK = 0;
  /// Keep the smallest set of most likely tokens whose probability mass is
  /// >= topP (at least one token); 1 = off. Must be in (0, 1].
  float topP = 1.0f;
  /// Seeds the generator (the same seed draws the same tokens).
  uint64_t seed = 0;
};

/// Checks `options`; the messages name the command-line flags (--temp,
/// --top-k, --top-p).
Status validate(const SamplingOptions &options);

/// xoshiro256** 1.0 (Blackman and Vigna, https://prng.di.unimi.it/), its
/// 256-bit state filled with four successive outputs of splitmix64 started
/// at `seed` (the seeding the authors recommend).
class Xoshiro256StarStar {
public:
  explicit Xoshiro256StarStar(uint64_t seed);
  /// The next 64-bit output.
  uint64_t next();
  /// A double in [0, 1): the top 53 bits of next() times 2^-53.
  double uniform();

private:
  uint64_t s_[4];
};

class Sampler {
public:
  explicit Sampler(SamplingOptions options);

  /// The next token from `logits[0, vocabSize)`.
  ///  - temperature == 0: the argmax (the lowest index on ties); the
  ///    generator is not advanced.
  ///  - otherwise p_i = exp((logit_i - max) / T) in f32 (a +inf logit takes
  ///    all the mass, shared equally among +inf logits). Candidates are
  ///    ordered by logit descending, index ascending; top-k keeps the first
  ///    k; top-p then keeps the shortest prefix of those whose mass reaches
  ///    topP of what top-k kept (so top-p applies to the top-k-renormalized
  ///    distribution, as in llama.cpp and Hugging Face; always at least one
  ///    token). One draw u = uniform() then picks the first kept token, in
  ///    index order, whose cumulative mass (summed in double) exceeds u times
  ///    the kept mass. O(vocabSize) expected for every option.
  /// Errors: invalid options, null/empty logits, a NaN logit (named by
  /// index), or every logit -inf when sampling.
  Expected<int32_t> sample(const float *logits, size_t vocabSize);

  const SamplingOptions &options() const { return options_; }

private:
  SamplingOptions options_;
  Status valid_;
  Xoshiro256StarStar rng_;
  std::vector<float> probs_;
  std::vector<int32_t> order_;
};

} // namespace mixq::runtime

#endif // MIXQ_RUNTIME_SAMPLER_H
