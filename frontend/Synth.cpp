//===- Synth.cpp - Deterministic synthetic Llama checkpoints --------------===//
//
// Element i of a tensor is  t(u_i) * rowScale[row] * colScale[col] * std,
// where u_i is 32 bits of splitmix64(key + (i / 2) * golden) (the low half
// for even i, the high half for odd i), t is a Student-t(4) inverse CDF
// read from a table, and the scales are log-normal (rows), mildly log-normal
// with a few 5-20x outliers (columns). The outlier columns of a matrix are
// drawn from keys named after the activation it reads, not after the
// matrix, so q/k/v of a layer share them, gate/up share theirs, and both
// include the residual-stream channels every layer shares.
//===----------------------------------------------------------------------===//
#include "frontend/Synth.h"

#include "frontend/Checkpoint.h"
#include "quant/FloatFormats.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <thread>
#include <unordered_set>

using namespace mixq;

namespace {

//===----------------------------------------------------------------------===//
// Counter-based randomness
//===----------------------------------------------------------------------===//

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

/// splitmix64's output function: a bijective 64-bit mixer whose outputs for
/// consecutive inputs pass BigCrush, so hashing a counter is as good as a
/// sequential generator and needs no state.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline uint64_t combine(uint64_t a, uint64_t b) {
  return mix64(a ^ mix64(b + kGolden));
}

uint64_t hashString(uint64_t h, const std::string &s) {
  // FNV-1a, then mixed: names differ in few characters ("blk1" / "blk2").
  uint64_t f = 0xCBF29CE484222325ull;
  for (unsigned char c : s)
    f = (f ^ c) * 0x100000001B3ull;
  return combine(h, f);
}

/// The n-th value of the stream `key`.
inline uint64_t streamAt(uint64_t key, uint64_t n) {
  return mix64(key + n * kGolden);
}

/// Uniform in (0, 1), never 0 so that log() is finite.
inline double unitOpen(uint64_t h) {
  return (double(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/// Standard normal (Box-Muller); used per row/column, not per element.
double gaussianAt(uint64_t key, uint64_t n) {
  double u1 = unitOpen(streamAt(key, 2 * n));
  double u2 = unitOpen(streamAt(key, 2 * n + 1));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

//===----------------------------------------------------------------------===//
// Student-t(4) inverse CDF table
//===----------------------------------------------------------------------===//

/// nu = 4: finite variance (2) but no fourth moment, about the tail weight
/// measured on trained LLM weight matrices.
constexpr int kTableBits = 12;
constexpr int kTableSize = 1 << kTableBits;
constexpr int kFracBits = 31 - kTableBits;

/// CDF of Student-t with 4 degrees of freedom (closed form).
double studentT4Cdf(double t) {
  double s = t * t / (4.0 + t * t);
  double x = t / std::sqrt(1.0 + t * t / 4.0);
  return 0.5 + 0.375 * x * (1.0 - s / 3.0);
}

/// Quantile by bisection: only +-*/ and sqrt, which IEEE rounds exactly, so
/// the table does not depend on the platform's libm.
double studentT4Quantile(double p) {
  double lo = 0.0, hi = 1024.0;
  for (int i = 0; i < 80; ++i) {
    double mid = 0.5 * (lo + hi);
    (studentT4Cdf(mid) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

/// Magnitudes of the upper half: entry k is the quantile at
/// p = 1/2 + k / (2 * kTableSize), scaled to unit variance. Samples
/// interpolate linearly inside a bin. The last bin would end at p = 1
/// (infinity); it ends at 1 - 2^-17 instead, which caps |t| at 17.6
/// standard deviations (before the row and column scales), about the
/// largest entries of real weight matrices, rather than the unbounded tail.
struct TTable {
  /// Bin k: quantile at its start and the rise to the next bin's start,
  /// side by side so that a sample reads one 8-byte pair.
  struct Bin {
    float start, rise;
  };
  Bin bins[kTableSize];
  TTable() {
    std::vector<double> d(kTableSize + 1);
    for (int k = 0; k < kTableSize; ++k)
      d[k] = studentT4Quantile(0.5 + 0.5 * double(k) / kTableSize);
    d[kTableSize] = studentT4Quantile(1.0 - 1.0 / 131072.0);
    // Variance of the piecewise-linear quantile function.
    double var = 0.0;
    for (int k = 0; k < kTableSize; ++k) {
      double a = d[k], b = d[k + 1] - d[k];
      var += a * a + a * b + b * b / 3.0;
    }
    var /= kTableSize;
    double scale = 1.0 / std::sqrt(var);
    for (int k = 0; k < kTableSize; ++k) {
      float start = float(d[k] * scale), end = float(d[k + 1] * scale);
      bins[k] = {start, end - start};
    }
  }
};

const TTable::Bin *tTable() {
  static const TTable table;
  return table.bins;
}

inline float bitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint32_t floatToBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

/// A unit-variance heavy-tailed sample from 32 random bits: 1 sign bit,
/// kTableBits of bin, kFracBits of position in the bin. The position is
/// made by putting its bits in a float's mantissa (exact, no int-to-float
/// conversion); the sign is xor-ed in, as a branch on a random bit would
/// mispredict half the time.
inline float tSample(uint32_t u, const TTable::Bin *table) {
  const TTable::Bin &bin = table[(u >> kFracBits) & (kTableSize - 1)];
  float frac =
      bitsToFloat(0x3F800000u | ((u << (23 - kFracBits)) & 0x7FFFFFu)) - 1.0f;
  float m = bin.start + frac * bin.rise;
  return bitsToFloat(floatToBits(m) ^ (u & 0x80000000u));
}

//===----------------------------------------------------------------------===//
// Tensor roles and outlier channels
//===----------------------------------------------------------------------===//

/// A set of input channels with large weights, named after the activation
/// that the matrices read (e.g. "blk3.attn_in": attn_norm's output).
struct ChannelGroup {
  std::string name;
  /// Fraction of the width that is an outlier (at least one channel).
  double fraction;
};

struct Role {
  bool isNorm = false;
  bool isEmbedding = false;
  /// Entry RMS is gain / sqrt(in_features) (embedding: gain itself).
  double gain = 1.0;
  std::vector<ChannelGroup> groups;
};

// Residual-stream channels carry outliers in every layer of real models, so
// one group is shared model-wide; each layer adds its own.
ChannelGroup residualGroup() { return {"resid", 0.003}; }

ChannelGroup layerGroup(const std::string &prefix, const char *activation,
                        double fraction) {
  return {prefix + activation, fraction};
}

Role roleOf(const std::string &name) {
  Role role;
  // The embedding, the head and the final norm get no outlier channels: in
  // a model this small (tiny: 64 wide) one 20x channel of the head would
  // decide every logit, and heavy-tailed entries along it would make the
  // softmax one-hot. Their rows still vary (token frequency).
  if (name == "tok_embed") {
    role.isEmbedding = true;
    // Real embeddings are small next to the layers' outputs (Llama 2:
    // RMS ~0.02); the residual stream grows from there.
    role.gain = 0.05;
    return role;
  }
  if (name == "lm_head") {
    // Logits of standard deviation ~1 over the vocabulary: with the row
    // scales' spread, the top token typically gets 5-30%, neither flat nor
    // one-hot, so that quantization error shows in the KL divergence.
    role.gain = 1.0;
    return role;
  }
  if (name == "final_norm") {
    role.isNorm = true;
    return role;
  }
  size_t dot = name.find('.');
  if (name.compare(0, 3, "blk") == 0 && dot != std::string::npos && dot > 3) {
    std::string prefix = name.substr(0, dot + 1), suffix = name.substr(dot + 1);
    if (suffix == "attn_norm" || suffix == "q_proj" || suffix == "k_proj" ||
        suffix == "v_proj") {
      role.isNorm = suffix == "attn_norm";
      role.groups = {residualGroup(), layerGroup(prefix, "attn_in", 0.004)};
      return role;
    }
    if (suffix == "ffn_norm" || suffix == "gate_proj" || suffix == "up_proj") {
      role.isNorm = suffix == "ffn_norm";
      role.groups = {residualGroup(), layerGroup(prefix, "ffn_in", 0.004)};
      return role;
    }
    // Trained output projections are smaller than the input ones, which
    // keeps the residual stream from exploding with depth.
    if (suffix == "o_proj") {
      role.gain = 0.5;
      role.groups = {layerGroup(prefix, "o_in", 0.006)};
      return role;
    }
    if (suffix == "down_proj") {
      role.gain = 0.5;
      role.groups = {layerGroup(prefix, "down_in", 0.006)};
      return role;
    }
  }
  // Not a canonical name: a plain matrix with outliers of its own.
  role.groups = {ChannelGroup{name + ".in", 0.005}};
  return role;
}

struct Outliers {
  /// Weight magnitude multiplier per channel (1 for normal channels).
  std::vector<float> weightFactor;
  /// Norm weight multiplier per channel (1 for normal channels).
  std::vector<float> normFactor;
};

/// The outlier channels of `groups` over `width` inputs: a pure function of
/// (seed, group names, width), so every matrix reading the same activation
/// gets the same channels with the same factors.
Outliers outliersOf(uint64_t seed, const std::vector<ChannelGroup> &groups,
                    int64_t width) {
  Outliers out;
  out.weightFactor.assign(width, 1.0f);
  out.normFactor.assign(width, 1.0f);
  for (const ChannelGroup &group : groups) {
    uint64_t key = hashString(combine(seed, width), group.name);
    int64_t count =
        std::max<int64_t>(1, std::llround(double(width) * group.fraction));
    count = std::min(count, width);
    std::set<int64_t> chosen;
    for (uint64_t n = 0; int64_t(chosen.size()) < count; ++n) {
      int64_t channel = int64_t(streamAt(key, n) % uint64_t(width));
      if (!chosen.insert(channel).second)
        continue;
      uint64_t h = streamAt(combine(key, 0x0F), uint64_t(channel));
      // Log-uniform in [5, 20]: the spread of per-channel outlier ratios
      // reported for LLM activations (LLM.int8, SmoothQuant).
      float weight = float(5.0 * std::exp(std::log(4.0) * unitOpen(h)));
      float norm = float(1.5 + unitOpen(mix64(h)));
      out.weightFactor[channel] = std::max(out.weightFactor[channel], weight);
      out.normFactor[channel] = std::max(out.normFactor[channel], norm);
    }
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Generation
//===----------------------------------------------------------------------===//

/// Per-output-row log-normal scale: sigma 0.4, mean square 1.
constexpr double kRowSigma = 0.4;
/// Mild per-input-column variation on top of the outliers.
constexpr double kColSigma = 0.1;
/// Norm weights: exp(N(0, 0.05^2)), i.e. 1 +- 5%, and 1.5-2.5x on the
/// outlier channels.
constexpr double kNormSigma = 0.05;

/// Little-endian stores; one plain store on little-endian hosts.
inline void storeLE16(uint16_t v, uint8_t *dst) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  std::memcpy(dst, &v, 2);
#else
  dst[0] = uint8_t(v);
  dst[1] = uint8_t(v >> 8);
#endif
}

inline void storeLE32(uint32_t v, uint8_t *dst) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  std::memcpy(dst, &v, 4);
#else
  dst[0] = uint8_t(v);
  dst[1] = uint8_t(v >> 8);
  dst[2] = uint8_t(v >> 16);
  dst[3] = uint8_t(v >> 24);
#endif
}

/// Element stores. The 16-bit ones take a branch-free fast path that is
/// bit-identical to quant::floatToHalfBits / floatToBFloat16Bits (round to
/// nearest even) where it applies and call them otherwise: the library
/// functions branch on every case and would halve the generation speed.
struct StoreF32 {
  static constexpr unsigned size = 4;
  static void store(float v, uint8_t *dst) { storeLE32(floatToBits(v), dst); }
};
struct StoreF16 {
  static constexpr unsigned size = 2;
  static void store(float v, uint8_t *dst) {
    uint32_t f;
    std::memcpy(&f, &v, 4);
    uint32_t mag = f & 0x7FFFFFFFu;
    uint16_t h;
    // Normal halves: [2^-14, 65504). Rebias the exponent (127 -> 15) and
    // round the 13 dropped mantissa bits to nearest even; a carry moves into
    // the exponent as it should.
    if (mag - 0x38800000u < 0x477FE000u - 0x38800000u)
      h = uint16_t(((f >> 16) & 0x8000u) |
                   ((mag - 0x38000000u + 0xFFFu + ((mag >> 13) & 1u)) >> 13));
    else
      h = quant::floatToHalfBits(v);
    storeLE16(h, dst);
  }
};
struct StoreBF16 {
  static constexpr unsigned size = 2;
  static void store(float v, uint8_t *dst) {
    uint32_t f;
    std::memcpy(&f, &v, 4);
    uint16_t h = (f & 0x7FFFFFFFu) <= 0x7F800000u
                     ? uint16_t((f + 0x7FFFu + ((f >> 16) & 1u)) >> 16)
                     : quant::floatToBFloat16Bits(v); // NaN
    storeLE16(h, dst);
  }
};

/// Writes elements [first, first + n) of stream `key`, times
/// rowMul * colMul[j], to `dst`.
template <typename Store>
void generateSpan(uint64_t key, uint64_t first, int64_t n, float rowMul,
                  const float *colMul, const TTable::Bin *table, uint8_t *dst) {
  uint64_t i = first, end = first + uint64_t(n);
  if (i < end && (i & 1)) {
    uint64_t h = streamAt(key, i >> 1);
    Store::store(tSample(uint32_t(h >> 32), table) * rowMul * *colMul++, dst);
    dst += Store::size;
    ++i;
  }
  for (; i + 1 < end; i += 2) {
    uint64_t h = streamAt(key, i >> 1);
    Store::store(tSample(uint32_t(h), table) * rowMul * colMul[0], dst);
    Store::store(tSample(uint32_t(h >> 32), table) * rowMul * colMul[1],
                 dst + Store::size);
    dst += 2 * Store::size;
    colMul += 2;
  }
  if (i < end) {
    uint64_t h = streamAt(key, i >> 1);
    Store::store(tSample(uint32_t(h), table) * rowMul * *colMul, dst);
  }
}

/// Writes `n` floats as `dtype`.
void storeAs(DType dtype, const float *src, int64_t n, uint8_t *dst) {
  for (int64_t i = 0; i < n; ++i) {
    if (dtype == DType::F32)
      StoreF32::store(src[i], dst + 4 * i);
    else if (dtype == DType::F16)
      StoreF16::store(src[i], dst + 2 * i);
    else
      StoreBF16::store(src[i], dst + 2 * i);
  }
}

/// Runs body(chunk) for chunk in [0, numChunks) on up to `numThreads`
/// threads (the caller's included). Thread start failures only cost speed.
template <typename Body>
void parallelFor(int64_t numChunks, unsigned numThreads, Body body) {
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    for (int64_t c; (c = next.fetch_add(1)) < numChunks;)
      body(c);
  };
  std::vector<std::thread> threads;
  unsigned extra =
      unsigned(std::min<int64_t>(numChunks, int64_t(numThreads))) - 1;
  for (unsigned t = 0; t < extra; ++t) {
    try {
      threads.emplace_back(worker);
    } catch (const std::exception &) {
      break;
    }
  }
  worker();
  for (std::thread &t : threads)
    t.join();
}

/// synthFillTensor with an optional row order: output row r is the
/// generated row rowSource[r] (the Hugging Face q/k permutation).
Status fillTensor(const std::string &name, const std::vector<int64_t> &shape,
                  uint64_t seed, DType dtype, uint8_t *dst, unsigned numThreads,
                  const std::vector<int64_t> *rowSource) {
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    return makeError("synthetic tensor '", name, "': cannot generate ",
                     dtypeName(dtype), " (only f32, f16 and bf16)");
  if (shape.empty() || shape.size() > 2)
    return makeError("synthetic tensor '", name, "': shape ",
                     formatShape(shape), " is not 1-D or 2-D");
  Expected<int64_t> count =
      checkedNumElements(shape, "synthetic tensor '" + name + "'");
  if (!count)
    return count.status();
  int64_t rows = shape.size() == 2 ? shape[0] : 1;
  int64_t cols = shape.back();
  if (*count == 0)
    return Status::success();
  if (rowSource) {
    bool valid = int64_t(rowSource->size()) == rows;
    for (size_t r = 0; valid && r < rowSource->size(); ++r)
      valid = (*rowSource)[r] >= 0 && (*rowSource)[r] < rows;
    if (!valid)
      return makeError("synthetic tensor '", name,
                       "': the q/k row permutation does not match its ", rows,
                       " rows");
  }

  const Role role = roleOf(name);
  const uint64_t key = combine(hashString(mix64(seed), name),
                               hashString(rows, std::to_string(cols)));
  const Outliers outliers = outliersOf(seed, role.groups, cols);

  if (role.isNorm || shape.size() == 1) {
    // Norm weights: near 1, larger on the channels whose weights are.
    std::vector<float> values(cols);
    for (int64_t c = 0; c < cols; ++c) {
      double base = std::exp(kNormSigma * gaussianAt(key, uint64_t(c)));
      values[c] = float(base * outliers.normFactor[c]);
    }
    storeAs(dtype, values.data(), cols, dst);
    return Status::success();
  }

  // Column multipliers, normalized to mean square 1 so that the outliers do
  // not change the output variance, then times the entry RMS.
  std::vector<float> colMul(cols);
  {
    uint64_t colKey = combine(key, 0xC0);
    double sumSq = 0.0;
    std::vector<double> c64(cols);
    for (int64_t c = 0; c < cols; ++c) {
      c64[c] = std::exp(kColSigma * gaussianAt(colKey, uint64_t(c)) -
                        kColSigma * kColSigma) *
               outliers.weightFactor[c];
      sumSq += c64[c] * c64[c];
    }
    double rms =
        role.isEmbedding ? role.gain : role.gain / std::sqrt(double(cols));
    double norm = rms / std::sqrt(sumSq / double(cols));
    for (int64_t c = 0; c < cols; ++c)
      colMul[c] = float(c64[c] * norm);
  }
  std::vector<float> rowMul(rows);
  {
    uint64_t rowKey = combine(key, 0x70);
    for (int64_t r = 0; r < rows; ++r)
      rowMul[r] = float(std::exp(kRowSigma * gaussianAt(rowKey, uint64_t(r)) -
                                 kRowSigma * kRowSigma));
  }

  const TTable::Bin *table = tTable();
  if (numThreads == 0)
    numThreads = std::max(1u, std::thread::hardware_concurrency());
  // Chunks of whole rows, about 256K elements: small enough to balance the
  // threads, large enough to amortize the scheduling.
  int64_t rowsPerChunk = std::max<int64_t>(1, (int64_t(1) << 18) / cols);
  int64_t numChunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
  auto generateRows = [&](auto store, int64_t chunk) {
    using Store = decltype(store);
    int64_t r0 = chunk * rowsPerChunk;
    int64_t r1 = std::min(rows, r0 + rowsPerChunk);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t src = rowSource ? (*rowSource)[r] : r;
      generateSpan<Store>(key, uint64_t(src) * uint64_t(cols), cols,
                          rowMul[src], colMul.data(), table,
                          dst + uint64_t(r) * uint64_t(cols) * Store::size);
    }
  };
  parallelFor(numChunks, numThreads, [&](int64_t chunk) {
    if (dtype == DType::F32)
      generateRows(StoreF32(), chunk);
    else if (dtype == DType::F16)
      generateRows(StoreF16(), chunk);
    else
      generateRows(StoreBF16(), chunk);
  });
  return Status::success();
}

uint64_t tensorBytes(const TensorSource &t) {
  uint64_t n = dtypeSize(t.dtype);
  for (int64_t d : t.shape)
    n *= uint64_t(d);
  return n;
}

//===----------------------------------------------------------------------===//
// Tokenizer filler pieces
//===----------------------------------------------------------------------===//

const char *const kSpace = "\xE2\x96\x81"; // U+2581, SentencePiece's space

/// Letters by English frequency: common combinations come first and so get
/// the higher scores, as in a trained vocabulary.
const char kLettersByFrequency[] = "etaoinshrdlcumwfgypbvkjxqz";

const char *const kCommonWords[] = {
    "the",   "of",    "and",    "to",     "in",    "is",     "was",   "that",
    "for",   "it",    "he",     "on",     "with",  "as",     "his",   "they",
    "at",    "be",    "this",   "from",   "have",  "or",     "by",    "one",
    "had",   "not",   "but",    "what",   "all",   "were",   "when",  "we",
    "there", "can",   "an",     "your",   "which", "their",  "said",  "if",
    "do",    "will",  "each",   "about",  "how",   "up",     "out",   "them",
    "then",  "she",   "many",   "some",   "so",    "these",  "would", "other",
    "into",  "has",   "more",   "her",    "two",   "like",   "him",   "see",
    "time",  "could", "no",     "make",   "than",  "first",  "been",  "its",
    "who",   "now",   "people", "my",     "made",  "over",   "did",   "down",
    "only",  "way",   "find",   "use",    "may",   "water",  "long",  "little",
    "very",  "after", "words",  "called", "just",  "where",  "most",  "know",
    "Once",  "upon",  "day",    "happy",  "play",  "friend", "saw",   "big",
    "went",  "mom",   "dog",    "cat",    "girl",  "boy",    "named", "Lily",
    "Tim",   "Ben",   "sun",    "tree",   "ball",  "park",   "home",  "good"};

/// Strings of `length` letters ordered by the sum of their letters'
/// frequency ranks, then lexicographically (by rank).
std::vector<std::string> letterStrings(int length) {
  int64_t total = 1;
  for (int i = 0; i < length; ++i)
    total *= 26;
  std::vector<std::pair<int, int64_t>> order;
  order.reserve(total);
  for (int64_t code = 0; code < total; ++code) {
    int sum = 0;
    for (int64_t c = code, i = 0; i < length; ++i, c /= 26)
      sum += int(c % 26);
    order.push_back({sum, code});
  }
  std::sort(order.begin(), order.end());
  std::vector<std::string> out;
  out.reserve(total);
  for (const auto &[sum, code] : order) {
    std::string s(length, ' ');
    // Most significant digit first, so the lexicographic tie-break reads
    // left to right.
    for (int64_t c = code, i = length - 1; i >= 0; --i, c /= 26)
      s[i] = kLettersByFrequency[c % 26];
    out.push_back(std::move(s));
  }
  return out;
}

} // namespace

//===----------------------------------------------------------------------===//
// Presets
//===----------------------------------------------------------------------===//

std::vector<SynthPreset> mixq::synthPresets() {
  std::vector<SynthPreset> presets;
  {
    ModelConfig c;
    c.dim = 64;
    c.hiddenDim = 172;
    c.numLayers = 2;
    c.numHeads = 4;
    c.numKvHeads = 2;
    c.headDim = 16;
    c.vocabSize = 259;
    c.maxSeqLen = 256;
    c.weightDType = DType::F32;
    presets.push_back(
        {"tiny", "tests: GQA 4/2 heads of 16, byte-level vocab of 259", c});
  }
  {
    // tiny with rows of 256 and 512 columns, whose 3-bit codes (96 and 192
    // bytes) start 16-byte aligned: a GEMV's 16-byte copies of 3-bit code
    // slices (--share-gemv-copies) apply, which tiny's 64 and 172 columns
    // never allow.
    ModelConfig c;
    c.dim = 256;
    c.hiddenDim = 512;
    c.numLayers = 2;
    c.numHeads = 4;
    c.numKvHeads = 2;
    c.headDim = 64;
    c.vocabSize = 259;
    c.maxSeqLen = 256;
    c.weightDType = DType::F32;
    presets.push_back({"tiny-wide",
                       "tests: tiny with rows of 256 and 512, GQA 4/2 heads "
                       "of 64, byte-level vocab of 259",
                       c});
  }
  {
    // llama2.c's stories15M, which shares its embedding with the head.
    ModelConfig c;
    c.dim = 288;
    c.hiddenDim = 768;
    c.numLayers = 6;
    c.numHeads = 6;
    c.numKvHeads = 6;
    c.headDim = 48;
    c.vocabSize = 32000;
    c.maxSeqLen = 256;
    c.tiedEmbeddings = true;
    c.weightDType = DType::F32;
    presets.push_back({"small", "llama2.c stories15M shape, tied head", c});
  }
  {
    ModelConfig c;
    c.dim = 4096;
    c.hiddenDim = 11008;
    c.numLayers = 32;
    c.numHeads = 32;
    c.numKvHeads = 32;
    c.headDim = 128;
    c.vocabSize = 32000;
    c.maxSeqLen = 4096;
    c.weightDType = DType::F16;
    presets.push_back({"llama2-7b", "Llama-2-7B shape (benchmarks)", c});
  }
  {
    ModelConfig c;
    c.dim = 4096;
    c.hiddenDim = 14336;
    c.numLayers = 32;
    c.numHeads = 32;
    c.numKvHeads = 8;
    c.headDim = 128;
    c.vocabSize = 128256;
    c.maxSeqLen = 8192;
    c.ropeTheta = 500000.0f;
    c.ropeScaling.factor = 8.0f;
    c.ropeScaling.lowFreqFactor = 1.0f;
    c.ropeScaling.highFreqFactor = 4.0f;
    c.ropeScaling.originalMaxPositions = 8192;
    c.weightDType = DType::BF16;
    presets.push_back({"llama3-8b",
                       "Llama-3.1-8B shape: GQA 32/8, rope scaling, 128K vocab",
                       c});
  }
  return presets;
}

Expected<ModelConfig> mixq::presetConfig(const std::string &name) {
  std::string names;
  for (const SynthPreset &p : synthPresets()) {
    if (p.name == name)
      return p.config;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  return makeError("unknown preset '", name, "' (presets: ", names, ")");
}

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

Status mixq::synthFillTensor(const std::string &name,
                             const std::vector<int64_t> &shape, uint64_t seed,
                             DType dtype, uint8_t *dst, unsigned numThreads) {
  return fillTensor(name, shape, seed, dtype, dst, numThreads, nullptr);
}

std::vector<TensorSource> mixq::synthTensors(const ModelConfig &config,
                                             uint64_t seed, DType dtype,
                                             RopeLayout layout) {
  // Hugging Face's converters permute q/k rows to rotate-half order; the
  // generator makes the same rows in that order instead of permuting a copy.
  std::shared_ptr<std::vector<int64_t>> qRows, kRows;
  if (layout == RopeLayout::RotateHalf) {
    qRows = std::make_shared<std::vector<int64_t>>(
        interleavedToRotateHalfRows(config.numHeads, config.headDim));
    kRows = std::make_shared<std::vector<int64_t>>(
        interleavedToRotateHalfRows(config.numKvHeads, config.headDim));
  }
  auto endsWith = [](const std::string &s, const char *suffix) {
    size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
  };
  std::vector<TensorSource> out;
  for (const ExpectedTensor &t : expectedTensors(config)) {
    TensorSource src;
    src.name = t.name;
    src.dtype = dtype;
    src.shape = t.shape;
    std::shared_ptr<std::vector<int64_t>> rows;
    if (endsWith(t.name, ".q_proj"))
      rows = qRows;
    else if (endsWith(t.name, ".k_proj"))
      rows = kRows;
    src.fill = [name = t.name, shape = t.shape, seed, dtype,
                rows](uint8_t *dst) {
      return fillTensor(name, shape, seed, dtype, dst, 0, rows.get());
    };
    out.push_back(std::move(src));
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Tokenizer
//===----------------------------------------------------------------------===//

TokenizerData mixq::synthTokenizer(int64_t vocabSize) {
  TokenizerData tok;
  tok.model = "llama";
  if (vocabSize <= 0)
    return tok;
  size_t size = size_t(vocabSize);
  tok.tokens.reserve(size);
  auto add = [&](std::string piece, float score, TokenType type) {
    tok.tokens.push_back(std::move(piece));
    tok.scores.push_back(score);
    tok.types.push_back(int32_t(type));
  };
  add("<unk>", 0.0f, TokenType::Unknown);
  add("<s>", 0.0f, TokenType::Control);
  add("</s>", 0.0f, TokenType::Control);
  static const char hex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b)
    add(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">", 0.0f,
        TokenType::Byte);
  if (tok.tokens.size() > size) {
    tok.tokens.resize(size);
    tok.scores.resize(size);
    tok.types.resize(size);
  }
  tok.bosId = size > 1 ? 1 : -1;
  tok.eosId = size > 2 ? 2 : -1;

  // Filler pieces: distinct, scores strictly decreasing, and every piece's
  // prefixes present, so a BPE encoder can reach them by merges; anything
  // else still encodes through the byte tokens.
  std::unordered_set<std::string> seen(tok.tokens.begin(), tok.tokens.end());
  float rank = 0.0f;
  auto filler = [&](const std::string &piece) {
    if (tok.tokens.size() >= size || !seen.insert(piece).second)
      return;
    add(piece, -rank, TokenType::Normal);
    rank += 1.0f;
  };
  const std::string space = kSpace;
  filler(space);
  for (const char *p = kLettersByFrequency; *p; ++p)
    filler(std::string(1, *p));
  for (const char *p = kLettersByFrequency; *p; ++p)
    filler(space + *p);
  for (const char *p = kLettersByFrequency; *p; ++p) {
    char upper = char(*p - 'a' + 'A');
    filler(std::string(1, upper));
    filler(space + upper);
  }
  for (char d = '0'; d <= '9'; ++d)
    filler(std::string(1, d));
  for (const char *p = ".,'\"!?-:;()"; *p; ++p)
    filler(std::string(1, *p));
  for (const char *word : kCommonWords)
    filler(space + word);
  for (int length = 2; length <= 4 && tok.tokens.size() < size; ++length) {
    for (const std::string &s : letterStrings(length)) {
      if (tok.tokens.size() >= size)
        break;
      filler(s);
      filler(space + s);
    }
  }
  // Beyond ~950K pieces (no preset): numbered pieces keep them distinct.
  for (uint64_t n = 0; tok.tokens.size() < size; ++n)
    filler(space + "tok" + std::to_string(n));
  return tok;
}

//===----------------------------------------------------------------------===//
// Checkpoints
//===----------------------------------------------------------------------===//

Status mixq::writeSynthModel(const std::string &out, const ModelConfig &config,
                             const std::string &format, uint64_t seed,
                             ProgressCallback progress) {
  if (format != "gguf" && format != "safetensors" && format != "llama2c")
    return makeError("unknown format '", format,
                     "' (formats: gguf, safetensors, llama2c)");
  if (Status s = config.validate("synthetic model"); !s)
    return s;
  DType dtype = config.weightDType;
  if (format == "llama2c" && dtype != DType::F32)
    return makeError("the llama2c format holds f32 weights only, "
                     "not ",
                     dtypeName(dtype), " (use --dtype f32)");
  if (format == "llama2c" && config.headDim * config.numHeads != config.dim)
    return makeError("the llama2c format needs head_dim * n_heads "
                     "== dim");

  // GGUF and llama2.c hold Meta's interleaved rows; Hugging Face folders
  // rotate-half ones (and say so in the config).
  ModelConfig cfg = config;
  cfg.ropeLayout = format == "safetensors" ? RopeLayout::RotateHalf
                                           : RopeLayout::Interleaved;
  std::vector<TensorSource> tensors =
      synthTensors(cfg, seed, dtype, cfg.ropeLayout);

  if (progress) {
    struct Progress {
      uint64_t done = 0, total = 0;
      ProgressCallback callback;
    };
    auto state = std::make_shared<Progress>();
    state->callback = std::move(progress);
    for (const TensorSource &t : tensors)
      state->total += tensorBytes(t);
    for (TensorSource &t : tensors) {
      t.fill = [inner = std::move(t.fill), bytes = tensorBytes(t),
                state](uint8_t *dst) -> Status {
        if (Status s = inner(dst); !s)
          return s;
        state->done = std::min(state->total, state->done + bytes);
        state->callback(state->done, state->total);
        return Status::success();
      };
    }
  }

  TokenizerData tokenizer = synthTokenizer(cfg.vocabSize);
  if (format == "gguf")
    return writeGGUF(out, cfg, tokenizer, tensors);
  if (format == "safetensors") {
    // A Hugging Face checkpoint is a folder; make it (and its parents) so
    // that `-o out/model` works like `-o out/model.gguf`.
    std::error_code ec;
    std::filesystem::create_directories(out, ec);
    if (ec)
      return makeError(out,
                       ": cannot create the checkpoint folder: ", ec.message());
    return writeHuggingFace(out, cfg, tokenizer, tensors, kSynthShardBytes);
  }
  return writeLlama2c(out, cfg, tensors);
}

Status mixq::writeSynthCheckpoint(const std::string &out,
                                  const std::string &preset,
                                  const std::string &format, uint64_t seed,
                                  std::optional<DType> dtype,
                                  ProgressCallback progress) {
  Expected<ModelConfig> config = presetConfig(preset);
  if (!config)
    return config.status();
  if (dtype) {
    if (!isFloatDType(*dtype))
      return makeError("synthetic weights must be f32, f16 or bf16, not ",
                       dtypeName(*dtype));
    config->weightDType = *dtype;
  }
  return writeSynthModel(out, *config, format, seed, std::move(progress));
}
