//===- Sampler.cpp - Next-token sampling: greedy, temperature, top-k/p ----===//

#include "runtime/Sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace mixq;
using namespace mixq::runtime;

Status mixq::runtime::validate(const SamplingOptions &options) {
  if (!std::isfinite(options.temperature) || options.temperature < 0.0f)
    return makeError("--temp must be a finite number >= 0, got ",
                     options.temperature);
  if (!(options.topP > 0.0f && options.topP <= 1.0f))
    return makeError("--top-p must be in (0, 1], got ", options.topP);
  if (options.topK < 0)
    return makeError("--top-k must be >= 0 (0 = off), got ", options.topK);
  return Status::success();
}

//===----------------------------------------------------------------------===//
// Xoshiro256StarStar
//===----------------------------------------------------------------------===//

namespace {
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/// splitmix64 (https://prng.di.unimi.it/splitmix64.c).
uint64_t splitmix64(uint64_t &state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
} // namespace

Xoshiro256StarStar::Xoshiro256StarStar(uint64_t seed) {
  uint64_t state = seed;
  for (uint64_t &word : s_)
    word = splitmix64(state);
}

uint64_t Xoshiro256StarStar::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Xoshiro256StarStar::uniform() {
  return double(next() >> 11) * 0x1.0p-53;
}

//===----------------------------------------------------------------------===//
// Sampler
//===----------------------------------------------------------------------===//

Sampler::Sampler(SamplingOptions options)
    : options_(options), valid_(validate(options)), rng_(options.seed) {}

namespace {
/// Orders `order[0, size)` just enough to find the nucleus: returns `end` such
/// that order[0, end) are the candidates first in `before` order whose mass
/// `prob` reaches `threshold` (all of them if rounding keeps the sum short).
/// A quickselect on mass with a median-of-three pivot: expected O(size).
/// Only comparisons under a strict total order decide where elements go, so
/// the result is the same with every standard library.
template <typename Before, typename Prob>
size_t nucleusEnd(std::vector<int32_t> &order, double threshold,
                  const Before &before, const Prob &prob) {
  size_t lo = 0, hi = order.size();
  double acc = 0.0; // the mass of order[0, lo)
  while (hi - lo > 16) {
    // Median of three as the pivot, moved to hi - 1.
    size_t mid = lo + (hi - lo) / 2;
    if (before(order[mid], order[lo]))
      std::swap(order[mid], order[lo]);
    if (before(order[hi - 1], order[lo]))
      std::swap(order[hi - 1], order[lo]);
    if (before(order[mid], order[hi - 1]))
      std::swap(order[mid], order[hi - 1]);
    int32_t pivot = order[hi - 1];
    // Lomuto partition: candidates before the pivot go to [lo, store).
    size_t store = lo;
    double massBefore = 0.0;
    for (size_t j = lo; j + 1 < hi; ++j) {
      if (before(order[j], pivot)) {
        massBefore += prob(order[j]);
        std::swap(order[j], order[store++]);
      }
    }
    std::swap(order[store], order[hi - 1]);
    if (acc + massBefore >= threshold) {
      hi = store; // the nucleus ends before the pivot
      continue;
    }
    acc += massBefore + prob(pivot);
    if (acc >= threshold)
      return store + 1;
    lo = store + 1;
  }
  std::sort(order.begin() + std::ptrdiff_t(lo),
            order.begin() + std::ptrdiff_t(hi), before);
  for (size_t j = lo; j < hi; ++j) {
    acc += prob(order[j]);
    if (acc >= threshold)
      return j + 1;
  }
  return hi;
}
} // namespace

Expected<int32_t> Sampler::sample(const float *logits, size_t vocabSize) {
  if (!valid_)
    return valid_;
  if (!logits || vocabSize == 0)
    return makeError("sample: no logits (vocabulary size ", vocabSize, ")");
  if (vocabSize > size_t(std::numeric_limits<int32_t>::max()))
    return makeError("sample: vocabulary size ", vocabSize,
                     " does not fit int32 token ids");
  size_t n = vocabSize;
  size_t argmax = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(logits[i]))
      return makeError("sample: logit ", i, " of ", n, " is NaN");
    if (logits[i] > logits[argmax])
      argmax = i;
  }
  if (options_.temperature == 0.0f)
    return int32_t(argmax);

  float maxLogit = logits[argmax];
  if (maxLogit == -std::numeric_limits<float>::infinity())
    return makeError("sample: all ", n, " logits are -inf");
  probs_.resize(n);
  const float temperature = options_.temperature;
  // p_i, unnormalized (the largest is 1).
  auto probability = [&](size_t i) {
    if (std::isinf(maxLogit))
      return logits[i] == maxLogit ? 1.0f : 0.0f;
    return std::exp((logits[i] - maxLogit) / temperature);
  };
  // Candidates by logit descending, index ascending: a strict total order,
  // so what is kept does not depend on the standard library (and top-k = 1
  // is the same token as greedy even where two probabilities round equal).
  auto before = [&](int32_t a, int32_t b) {
    float la = logits[size_t(a)], lb = logits[size_t(b)];
    return la != lb ? la > lb : a < b;
  };
  auto prob = [&](int32_t i) { return double(probs_[size_t(i)]); };

  bool useTopK = options_.topK > 0 && size_t(options_.topK) < n;
  bool useTopP = options_.topP < 1.0f && n > 1;
  // The kept tokens are a prefix of the candidate order: every token up to
  // and including `last` (-1: all tokens). `kept` is their mass.
  int32_t last = -1;
  double kept = 0.0;
  order_.clear();
  if (useTopK) {
    // One pass with a heap of the k best so far, its worst on top: most
    // tokens cost one comparison with that worst one.
    size_t k = size_t(options_.topK);
    order_.reserve(k);
    for (size_t i = 0; i < n; ++i) {
      int32_t id = int32_t(i);
      if (order_.size() < k) {
        order_.push_back(id);
        std::push_heap(order_.begin(), order_.end(), before);
      } else if (before(id, order_.front())) {
        std::pop_heap(order_.begin(), order_.end(), before);
        order_.back() = id;
        std::push_heap(order_.begin(), order_.end(), before);
      }
    }
    last = order_.front();
    // Only the kept tokens need a probability.
    for (int32_t i : order_) {
      probs_[size_t(i)] = probability(size_t(i));
      kept += prob(i);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      probs_[i] = probability(i);
      kept += double(probs_[i]);
    }
    if (useTopP) {
      // A token with p < (1 - topP) / (n - 1) of the total cannot be in the
      // nucleus: at most n - 1 such tokens (the argmax is always kept) hold
      // less than 1 - topP together, so the others reach topP first
      // (llama2.c's prefilter, which forgets to keep the argmax).
      double cutoff = (1.0 - double(options_.topP)) / double(n - 1) * kept;
      for (size_t i = 0; i < n; ++i)
        if (i == argmax || (double(probs_[i]) >= cutoff && probs_[i] > 0.0f))
          order_.push_back(int32_t(i));
    }
  }
  if (useTopP) {
    // The nucleus of what top-k kept (or of everything): its mass is
    // measured against `kept`, i.e. top-p applies to the top-k-renormalized
    // distribution.
    size_t end = nucleusEnd(order_, double(options_.topP) * kept, before, prob);
    end = std::max<size_t>(end, 1);
    last = order_[0];
    kept = 0.0;
    for (size_t j = 0; j < end; ++j) {
      kept += prob(order_[j]);
      if (before(last, order_[j]))
        last = order_[j];
    }
  }

  // One draw, walking the kept tokens in index order.
  auto isKept = [&](size_t i) {
    return last < 0 || int32_t(i) == last || before(int32_t(i), last);
  };
  double target = rng_.uniform() * kept;
  double cumulative = 0.0;
  size_t lastWithMass = argmax;
  for (size_t i = 0; i < n; ++i) {
    if (!isKept(i) || probs_[i] == 0.0f)
      continue;
    cumulative += double(probs_[i]);
    lastWithMass = i;
    if (target < cumulative)
      return int32_t(i);
  }
  return int32_t(lastWithMass); // rounding: the last kept token with mass
}
