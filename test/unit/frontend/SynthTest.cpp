//===- SynthTest.cpp - mixq-synth presets, weights and tokenizer ----------===//

#include "frontend/Synth.h"

#include "frontend/Checkpoint.h"
#include "quant/FloatFormats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <unistd.h>

using namespace mixq;

namespace {

ModelConfig tiny() {
  Expected<ModelConfig> c = presetConfig("tiny");
  EXPECT_TRUE(c) << c.message();
  return *c;
}

std::vector<int64_t> shapeOf(const ModelConfig &config,
                             const std::string &name) {
  for (const ExpectedTensor &t : expectedTensors(config))
    if (t.name == name)
      return t.shape;
  ADD_FAILURE() << "no tensor " << name;
  return {};
}

int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::vector<uint8_t> fillBytes(const std::string &name,
                               const std::vector<int64_t> &shape, uint64_t seed,
                               DType dtype, unsigned threads = 0) {
  std::vector<uint8_t> bytes(numElements(shape) * dtypeSize(dtype));
  Status s = synthFillTensor(name, shape, seed, dtype, bytes.data(), threads);
  EXPECT_TRUE(s) << s.message();
  return bytes;
}

std::vector<float> fillF32(const std::string &name,
                           const std::vector<int64_t> &shape,
                           uint64_t seed = 0) {
  std::vector<uint8_t> bytes = fillBytes(name, shape, seed, DType::F32);
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

/// Root mean square of each column of a rows x cols matrix.
std::vector<double> columnRms(const std::vector<float> &m, int64_t rows,
                              int64_t cols) {
  std::vector<double> out(cols, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[c] += double(m[r * cols + c]) * m[r * cols + c];
  for (double &v : out)
    v = std::sqrt(v / rows);
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Columns whose median |w| exceeds 2.5x that of the median column. The
/// median, unlike the RMS, ignores the heavy tails, so a 32-row column with
/// one huge entry is not taken for an outlier channel (those are 5-20x).
std::set<int64_t> outlierColumns(const std::vector<float> &m, int64_t rows,
                                 int64_t cols) {
  std::vector<double> typical(cols);
  for (int64_t c = 0; c < cols; ++c) {
    std::vector<double> column(rows);
    for (int64_t r = 0; r < rows; ++r)
      column[r] = std::fabs(m[r * cols + c]);
    typical[c] = median(column);
  }
  double med = median(typical);
  std::set<int64_t> out;
  for (int64_t c = 0; c < cols; ++c)
    if (typical[c] > 2.5 * med)
      out.insert(c);
  return out;
}

TEST(SynthPresets, ParameterCounts) {
  // tiny: embed and head 259 * 64 = 16576 each; per layer two norms of 64,
  // q and o 64 * 64 = 4096, k and v 32 * 64 = 2048, gate/up/down
  // 172 * 64 = 11008: 128 + 8192 + 4096 + 33024 = 45440; final norm 64.
  // 2 * 16576 + 2 * 45440 + 64 = 124096.
  EXPECT_EQ(tiny().numParameters(), 124096);
  ModelConfig t = tiny();
  EXPECT_EQ(t.headDim, 16);
  EXPECT_EQ(t.numKvHeads, 2);
  EXPECT_FALSE(t.tiedEmbeddings);
  EXPECT_EQ(t.ropeLayout, RopeLayout::Interleaved);
  EXPECT_TRUE(t.validate("tiny"));

  // tiny-wide: embed and head 259 * 256 = 66304 each; per layer two norms
  // of 256, q and o 256 * 256 = 65536, k and v 128 * 256 = 32768,
  // gate/up/down 512 * 256 = 131072: 512 + 131072 + 65536 + 393216 =
  // 590336; final norm 256. 2 * 66304 + 2 * 590336 + 256 = 1313536. Its
  // rows of 3-bit codes, 96 and 192 bytes, start 16-byte aligned.
  Expected<ModelConfig> wide = presetConfig("tiny-wide");
  ASSERT_TRUE(wide) << wide.message();
  EXPECT_EQ(wide->numParameters(), 1313536);
  EXPECT_EQ(wide->dim * 3 / 8 % 16, 0);
  EXPECT_EQ(wide->hiddenDim * 3 / 8 % 16, 0);

  // small (stories15M): 32000 * 288 + 6 * (2 * 288 + 4 * 288^2 +
  // 3 * 288 * 768) + 288 = 9216000 + 5975424 + 288 = 15191712.
  Expected<ModelConfig> small = presetConfig("small");
  ASSERT_TRUE(small) << small.message();
  EXPECT_EQ(small->numParameters(), 15191712);
  EXPECT_GE(small->numParameters(), 14000000);
  EXPECT_LE(small->numParameters(), 16000000);

  // Llama-2-7B: 2 * 32000 * 4096 + 32 * (2 * 4096 + 4 * 4096^2 +
  // 3 * 4096 * 11008) + 4096 = 6738415616.
  Expected<ModelConfig> l2 = presetConfig("llama2-7b");
  ASSERT_TRUE(l2) << l2.message();
  EXPECT_EQ(l2->numParameters(), 6738415616);
  EXPECT_EQ(l2->weightDType, DType::F16);

  // Llama-3-8B: 2 * 128256 * 4096 + 32 * (2 * 4096 + 2 * 4096^2 +
  // 2 * 1024 * 4096 + 3 * 4096 * 14336) + 4096 = 8030261248.
  Expected<ModelConfig> l3 = presetConfig("llama3-8b");
  ASSERT_TRUE(l3) << l3.message();
  EXPECT_EQ(l3->numParameters(), 8030261248);
  EXPECT_EQ(l3->weightDType, DType::BF16);
  EXPECT_EQ(l3->ropeTheta, 500000.0f);
  EXPECT_EQ(l3->ropeScaling.factor, 8.0f);
  EXPECT_EQ(l3->ropeScaling.originalMaxPositions, 8192);

  for (const SynthPreset &p : synthPresets())
    EXPECT_TRUE(p.config.validate(p.name)) << p.name;
}

TEST(SynthPresets, UnknownPresetNamesTheChoices) {
  Expected<ModelConfig> c = presetConfig("huge");
  ASSERT_FALSE(c);
  EXPECT_NE(c.message().find("'huge'"), std::string::npos) << c.message();
  EXPECT_NE(c.message().find("llama2-7b"), std::string::npos) << c.message();
}

TEST(SynthWeights, TensorsFollowExpectedOrder) {
  ModelConfig config = tiny();
  std::vector<TensorSource> tensors = synthTensors(config, 0, DType::F16);
  std::vector<ExpectedTensor> expected = expectedTensors(config);
  ASSERT_EQ(tensors.size(), expected.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(tensors[i].name, expected[i].name);
    EXPECT_EQ(tensors[i].shape, expected[i].shape);
    EXPECT_EQ(tensors[i].dtype, DType::F16);
  }
  // fill() produces what synthFillTensor does.
  std::vector<uint8_t> viaSource(numElements(tensors[2].shape) * 2);
  ASSERT_TRUE(tensors[2].fill(viaSource.data()));
  EXPECT_EQ(viaSource,
            fillBytes(tensors[2].name, tensors[2].shape, 0, DType::F16));
}

TEST(SynthWeights, RotateHalfRowsArePermutedInterleavedRows) {
  ModelConfig config = tiny();
  std::vector<TensorSource> interleaved =
      synthTensors(config, 5, DType::F16, RopeLayout::Interleaved);
  std::vector<TensorSource> rotateHalf =
      synthTensors(config, 5, DType::F16, RopeLayout::RotateHalf);
  ASSERT_EQ(interleaved.size(), rotateHalf.size());
  for (size_t t = 0; t < interleaved.size(); ++t) {
    const TensorSource &a = interleaved[t], &b = rotateHalf[t];
    size_t size = numElements(a.shape) * 2;
    std::vector<uint8_t> bytesA(size), bytesB(size);
    ASSERT_TRUE(a.fill(bytesA.data()));
    ASSERT_TRUE(b.fill(bytesB.data()));
    bool isQ = a.name.find(".q_proj") != std::string::npos;
    bool isK = a.name.find(".k_proj") != std::string::npos;
    if (!isQ && !isK) {
      EXPECT_EQ(bytesA, bytesB) << a.name;
      continue;
    }
    // head_dim 16: rotate-half row h*16 + j*8 + i is interleaved row
    // h*16 + 2i + j, e.g. 1 <- 2, 8 <- 1, 9 <- 3, 16 + 15 <- 16 + 15.
    size_t rowBytes = size_t(a.shape[1]) * 2;
    auto row = [&](const std::vector<uint8_t> &m, int64_t r) {
      return std::vector<uint8_t>(m.begin() + r * rowBytes,
                                  m.begin() + (r + 1) * rowBytes);
    };
    EXPECT_EQ(row(bytesB, 0), row(bytesA, 0)) << a.name;
    EXPECT_EQ(row(bytesB, 1), row(bytesA, 2)) << a.name;
    EXPECT_EQ(row(bytesB, 8), row(bytesA, 1)) << a.name;
    EXPECT_EQ(row(bytesB, 9), row(bytesA, 3)) << a.name;
    EXPECT_EQ(row(bytesB, 16 + 7), row(bytesA, 16 + 14)) << a.name;
    EXPECT_EQ(row(bytesB, 16 + 15), row(bytesA, 16 + 15)) << a.name;
    EXPECT_NE(bytesA, bytesB) << a.name;
  }
}

TEST(SynthWeights, DeterministicPerSeedNameAndShape) {
  std::vector<int64_t> shape = {64, 64};
  std::vector<uint8_t> a = fillBytes("blk0.q_proj", shape, 7, DType::F32);
  EXPECT_EQ(a, fillBytes("blk0.q_proj", shape, 7, DType::F32));
  EXPECT_NE(a, fillBytes("blk0.q_proj", shape, 8, DType::F32));
  EXPECT_NE(a, fillBytes("blk1.q_proj", shape, 7, DType::F32));
  EXPECT_NE(a, fillBytes("blk0.k_proj", shape, 7, DType::F32));
}

TEST(SynthWeights, ThreadCountDoesNotChangeBytes) {
  // 1000 x 1000 is four chunks of 262 rows; odd row length exercises the
  // element pairs that straddle rows.
  for (const std::vector<int64_t> &shape :
       {std::vector<int64_t>{1000, 1000}, std::vector<int64_t>{777, 1001}}) {
    std::vector<uint8_t> one =
        fillBytes("blk3.down_proj", shape, 42, DType::BF16, 1);
    EXPECT_EQ(one, fillBytes("blk3.down_proj", shape, 42, DType::BF16, 3));
    EXPECT_EQ(one, fillBytes("blk3.down_proj", shape, 42, DType::BF16, 16));
    EXPECT_EQ(one, fillBytes("blk3.down_proj", shape, 42, DType::BF16, 0));
  }
}

TEST(SynthWeights, HalfPrecisionIsTheF32ValuesRounded) {
  std::vector<int64_t> shape = {96, 64};
  std::vector<float> f32 = fillF32("blk1.up_proj", shape, 3);
  std::vector<uint8_t> f16 = fillBytes("blk1.up_proj", shape, 3, DType::F16);
  std::vector<uint8_t> bf16 = fillBytes("blk1.up_proj", shape, 3, DType::BF16);
  for (size_t i = 0; i < f32.size(); ++i) {
    uint16_t h = uint16_t(f16[2 * i] | (f16[2 * i + 1] << 8));
    uint16_t b = uint16_t(bf16[2 * i] | (bf16[2 * i + 1] << 8));
    ASSERT_EQ(h, quant::floatToHalfBits(f32[i])) << i;
    ASSERT_EQ(b, quant::floatToBFloat16Bits(f32[i])) << i;
  }
}

TEST(SynthWeights, RejectsBadDTypeAndShape) {
  std::vector<uint8_t> buf(64);
  Status s = synthFillTensor("blk0.q_proj", {4, 4}, 0, DType::I8, buf.data());
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("i8"), std::string::npos) << s.message();
  EXPECT_FALSE(synthFillTensor("x", {2, 2, 2}, 0, DType::F32, buf.data()));
  EXPECT_FALSE(synthFillTensor("x", {}, 0, DType::F32, buf.data()));
}

TEST(SynthWeights, HeavyTailedEntries) {
  ModelConfig config = tiny();
  std::vector<float> q = fillF32("blk0.q_proj", shapeOf(config, "blk0.q_proj"));
  double mean = 0.0;
  for (float v : q) {
    ASSERT_TRUE(std::isfinite(v));
    mean += v;
  }
  mean /= double(q.size());
  double m2 = 0.0, m4 = 0.0;
  for (float v : q) {
    double d = v - mean;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  m2 /= double(q.size());
  m4 /= double(q.size());
  double excessKurtosis = m4 / (m2 * m2) - 3.0;
  EXPECT_GT(excessKurtosis, 1.0);
  // RMS ~ 1/sqrt(in_features) = 0.125; the few outlier columns make the
  // estimate from 4096 entries noisy.
  EXPECT_GT(std::sqrt(m2), 0.125 * 0.6);
  EXPECT_LT(std::sqrt(m2), 0.125 * 1.8);
}

TEST(SynthWeights, OutlierColumnsSharedByReadersOfOneActivation) {
  ModelConfig config = tiny();
  for (int64_t layer = 0; layer < config.numLayers; ++layer) {
    auto matrix = [&](const char *suffix) {
      std::string name = blockTensorName(layer, suffix);
      std::vector<int64_t> shape = shapeOf(config, name);
      return std::make_pair(fillF32(name, shape), shape);
    };
    std::set<int64_t> attnColumns;
    for (const char *suffix : {"q_proj", "k_proj", "v_proj"}) {
      auto [m, shape] = matrix(suffix);
      std::vector<double> rms = columnRms(m, shape[0], shape[1]);
      double ratio = *std::max_element(rms.begin(), rms.end()) / median(rms);
      EXPECT_GT(ratio, 4.0) << suffix;
      std::set<int64_t> cols = outlierColumns(m, shape[0], shape[1]);
      EXPECT_FALSE(cols.empty()) << suffix;
      if (attnColumns.empty())
        attnColumns = cols;
      EXPECT_EQ(cols, attnColumns) << "layer " << layer << " " << suffix;
    }
    std::set<int64_t> ffnColumns;
    for (const char *suffix : {"gate_proj", "up_proj"}) {
      auto [m, shape] = matrix(suffix);
      std::set<int64_t> cols = outlierColumns(m, shape[0], shape[1]);
      EXPECT_FALSE(cols.empty()) << suffix;
      if (ffnColumns.empty())
        ffnColumns = cols;
      EXPECT_EQ(cols, ffnColumns) << "layer " << layer << " " << suffix;
    }
    // The norm in front is larger on those channels, near 1 elsewhere.
    std::vector<float> norm =
        fillF32(blockTensorName(layer, "attn_norm"), {config.dim});
    for (int64_t c = 0; c < config.dim; ++c) {
      if (attnColumns.count(c))
        EXPECT_GE(norm[c], 1.3f) << c;
      else
        EXPECT_NEAR(norm[c], 1.0f, 0.25f) << c;
    }
  }
}

TEST(SynthWeights, RowScalesVary) {
  ModelConfig config = tiny();
  std::vector<int64_t> shape = shapeOf(config, "blk1.gate_proj");
  std::vector<float> m = fillF32("blk1.gate_proj", shape);
  std::vector<double> rowRms(shape[0], 0.0);
  for (int64_t r = 0; r < shape[0]; ++r) {
    for (int64_t c = 0; c < shape[1]; ++c)
      rowRms[r] += double(m[r * shape[1] + c]) * m[r * shape[1] + c];
    rowRms[r] = std::sqrt(rowRms[r] / shape[1]);
  }
  double mean = 0.0, var = 0.0;
  for (double v : rowRms)
    mean += v / rowRms.size();
  for (double v : rowRms)
    var += (v - mean) * (v - mean) / rowRms.size();
  EXPECT_GT(std::sqrt(var) / mean, 0.2);
}

/// A plain forward pass of `config` over `tokens` (interleaved rope, GQA);
/// returns the logits of every position.
std::vector<std::vector<float>> forward(const ModelConfig &config,
                                        const std::vector<int> &tokens,
                                        double *maxResidualRms) {
  std::map<std::string, std::vector<float>> w;
  for (const ExpectedTensor &t : expectedTensors(config))
    w[t.name] = fillF32(t.name, t.shape, 0);
  const int64_t dim = config.dim, hd = config.headDim,
                numHeads = config.numHeads, numKv = config.numKvHeads,
                hidden = config.hiddenDim;
  auto matvec = [](const std::vector<float> &m, const std::vector<float> &x,
                   int64_t rows) {
    int64_t cols = int64_t(x.size());
    std::vector<float> y(rows, 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0.0;
      for (int64_t c = 0; c < cols; ++c)
        s += double(m[r * cols + c]) * x[c];
      y[r] = float(s);
    }
    return y;
  };
  auto rmsnorm = [&](const std::vector<float> &x, const std::vector<float> &g) {
    double ss = 0.0;
    for (float v : x)
      ss += double(v) * v;
    float inv = float(1.0 / std::sqrt(ss / x.size() + config.normEps));
    std::vector<float> y(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      y[i] = x[i] * inv * g[i];
    return y;
  };
  auto rope = [&](std::vector<float> &v, int64_t heads, int64_t pos) {
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < hd / 2; ++i) {
        double freq = std::pow(double(config.ropeTheta), -2.0 * i / hd);
        double a = pos * freq, c = std::cos(a), s = std::sin(a);
        float &x0 = v[h * hd + 2 * i], &x1 = v[h * hd + 2 * i + 1];
        float r0 = float(x0 * c - x1 * s), r1 = float(x0 * s + x1 * c);
        x0 = r0;
        x1 = r1;
      }
  };
  std::vector<std::vector<std::vector<float>>> kCache(config.numLayers),
      vCache(config.numLayers);
  std::vector<std::vector<float>> logits;
  *maxResidualRms = 0.0;
  for (int64_t pos = 0; pos < int64_t(tokens.size()); ++pos) {
    std::vector<float> x(w["tok_embed"].begin() + tokens[pos] * dim,
                         w["tok_embed"].begin() + (tokens[pos] + 1) * dim);
    for (int64_t l = 0; l < config.numLayers; ++l) {
      auto layerWeight = [&](const char *s) -> std::vector<float> & {
        return w[blockTensorName(l, s)];
      };
      std::vector<float> h = rmsnorm(x, layerWeight("attn_norm"));
      std::vector<float> q = matvec(layerWeight("q_proj"), h, numHeads * hd);
      std::vector<float> k = matvec(layerWeight("k_proj"), h, numKv * hd);
      std::vector<float> v = matvec(layerWeight("v_proj"), h, numKv * hd);
      rope(q, numHeads, pos);
      rope(k, numKv, pos);
      kCache[l].push_back(k);
      vCache[l].push_back(v);
      std::vector<float> att(numHeads * hd, 0.0f);
      for (int64_t head = 0; head < numHeads; ++head) {
        int64_t kvh = head / (numHeads / numKv);
        std::vector<double> score(pos + 1);
        double mx = -1e300;
        for (int64_t t = 0; t <= pos; ++t) {
          double s = 0.0;
          for (int64_t i = 0; i < hd; ++i)
            s += double(q[head * hd + i]) * kCache[l][t][kvh * hd + i];
          score[t] = s / std::sqrt(double(hd));
          mx = std::max(mx, score[t]);
        }
        double sum = 0.0;
        for (double &s : score)
          sum += (s = std::exp(s - mx));
        for (int64_t t = 0; t <= pos; ++t)
          for (int64_t i = 0; i < hd; ++i)
            att[head * hd + i] +=
                float(score[t] / sum * vCache[l][t][kvh * hd + i]);
      }
      std::vector<float> o = matvec(layerWeight("o_proj"), att, dim);
      for (int64_t i = 0; i < dim; ++i)
        x[i] += o[i];
      h = rmsnorm(x, layerWeight("ffn_norm"));
      std::vector<float> g = matvec(layerWeight("gate_proj"), h, hidden);
      std::vector<float> u = matvec(layerWeight("up_proj"), h, hidden);
      for (int64_t i = 0; i < hidden; ++i)
        g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
      std::vector<float> d = matvec(layerWeight("down_proj"), g, dim);
      double ss = 0.0;
      for (int64_t i = 0; i < dim; ++i) {
        x[i] += d[i];
        ss += double(x[i]) * x[i];
      }
      *maxResidualRms = std::max(*maxResidualRms, std::sqrt(ss / dim));
    }
    std::vector<float> h = rmsnorm(x, w["final_norm"]);
    logits.push_back(matvec(w["lm_head"], h, config.vocabSize));
  }
  return logits;
}

TEST(SynthWeights, TinyModelGivesSaneLogits) {
  ModelConfig config = tiny();
  // "<s>Hello, world" in byte tokens (byte b is token 3 + b).
  std::vector<int> tokens = {1};
  for (char c : std::string("Hello, world"))
    tokens.push_back(3 + int(c));
  double maxResidualRms = 0.0;
  std::vector<std::vector<float>> logits =
      forward(config, tokens, &maxResidualRms);
  EXPECT_LT(maxResidualRms, 50.0);
  std::set<int64_t> argmaxes;
  double meanTopProbability = 0.0;
  for (const std::vector<float> &row : logits) {
    double mean = 0.0, var = 0.0, mx = -1e30;
    for (float v : row) {
      ASSERT_TRUE(std::isfinite(v));
      mean += v / row.size();
      mx = std::max(mx, double(v));
    }
    for (float v : row)
      var += (v - mean) * (v - mean) / row.size();
    // lm_head's RMS 1/sqrt(dim) over unit-RMS normed states: logits of
    // standard deviation ~1.
    EXPECT_GT(std::sqrt(var), 0.5);
    EXPECT_LT(std::sqrt(var), 2.0);
    double z = 0.0;
    for (float v : row)
      z += std::exp(v - mx);
    meanTopProbability += 1.0 / z / logits.size();
    argmaxes.insert(std::max_element(row.begin(), row.end()) - row.begin());
  }
  // Neither flat (1/259) nor one-hot, and dependent on the input.
  EXPECT_GT(meanTopProbability, 0.02);
  EXPECT_LT(meanTopProbability, 0.6);
  EXPECT_GE(argmaxes.size(), 2u);
}

TEST(SynthTokenizer, ByteVocabulary) {
  TokenizerData tok = synthTokenizer(259);
  EXPECT_EQ(tok.model, "llama");
  ASSERT_EQ(tok.tokens.size(), 259u);
  ASSERT_EQ(tok.scores.size(), 259u);
  ASSERT_EQ(tok.types.size(), 259u);
  EXPECT_EQ(tok.bosId, 1);
  EXPECT_EQ(tok.eosId, 2);
  EXPECT_EQ(tok.tokens[0], "<unk>");
  EXPECT_EQ(tok.types[0], int32_t(TokenType::Unknown));
  EXPECT_EQ(tok.tokens[1], "<s>");
  EXPECT_EQ(tok.types[1], int32_t(TokenType::Control));
  EXPECT_EQ(tok.tokens[2], "</s>");
  EXPECT_EQ(tok.types[2], int32_t(TokenType::Control));
  EXPECT_EQ(tok.tokens[3], "<0x00>");
  EXPECT_EQ(tok.tokens[3 + 0x0A], "<0x0A>");
  EXPECT_EQ(tok.tokens[258], "<0xFF>");
  for (int i = 3; i < 259; ++i)
    EXPECT_EQ(tok.types[i], int32_t(TokenType::Byte)) << i;
}

TEST(SynthTokenizer, LargeVocabulariesHaveDistinctPieces) {
  for (int64_t size : {int64_t(32000), int64_t(128256)}) {
    TokenizerData tok = synthTokenizer(size);
    ASSERT_EQ(int64_t(tok.tokens.size()), size);
    ASSERT_EQ(int64_t(tok.scores.size()), size);
    ASSERT_EQ(int64_t(tok.types.size()), size);
    std::set<std::string> pieces(tok.tokens.begin(), tok.tokens.end());
    EXPECT_EQ(int64_t(pieces.size()), size);
    EXPECT_EQ(tok.tokens[259], "\xE2\x96\x81"); // the space piece
    for (int64_t i = 259; i < size; ++i) {
      ASSERT_EQ(tok.types[i], int32_t(TokenType::Normal)) << i;
      ASSERT_FALSE(tok.tokens[i].empty()) << i;
      if (i > 259) {
        ASSERT_LT(tok.scores[i], tok.scores[i - 1]) << i;
      }
    }
    EXPECT_TRUE(pieces.count("\xE2\x96\x81the"));
    EXPECT_TRUE(pieces.count("th"));
  }
}

TEST(SynthTokenizer, SmallVocabularyKeepsFirstTokens) {
  TokenizerData tok = synthTokenizer(2);
  ASSERT_EQ(tok.tokens.size(), 2u);
  EXPECT_EQ(tok.bosId, 1);
  EXPECT_EQ(tok.eosId, -1);
}

TEST(SynthCheckpoint, RejectsBadRequests) {
  Status s =
      writeSynthCheckpoint("/nonexistent/x", "tiny", "onnx", 0, std::nullopt);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("onnx"), std::string::npos) << s.message();
  s = writeSynthCheckpoint("/nonexistent/x", "nope", "gguf", 0, std::nullopt);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("nope"), std::string::npos) << s.message();
  s = writeSynthCheckpoint("/nonexistent/x", "tiny", "llama2c", 0, DType::F16);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("f32"), std::string::npos) << s.message();
}

uint64_t pathBytes(const std::string &path) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(path))
    return fs::file_size(path);
  uint64_t total = 0;
  for (const fs::directory_entry &e : fs::recursive_directory_iterator(path))
    if (e.is_regular_file())
      total += e.file_size();
  return total;
}

TEST(SynthCheckpoint, WritesTinyInEveryFormat) {
  std::string dir =
      ::testing::TempDir() + "/mixq-synth-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  // 124096 f32 parameters.
  const uint64_t weightBytes = uint64_t(124096) * 4;
  for (const char *format : {"gguf", "safetensors", "llama2c"}) {
    std::string out = dir + "/tiny." + format;
    uint64_t lastDone = 0, lastTotal = 0;
    int calls = 0;
    Status s = writeSynthCheckpoint(out, "tiny", format, 0, std::nullopt,
                                    [&](uint64_t done, uint64_t total) {
                                      EXPECT_GE(done, lastDone);
                                      lastDone = done;
                                      lastTotal = total;
                                      ++calls;
                                    });
    ASSERT_TRUE(s) << format << ": " << s.message();
    // One report per tensor; the last one says all is done.
    EXPECT_EQ(calls, int(expectedTensors(tiny()).size())) << format;
    EXPECT_EQ(lastDone, weightBytes) << format;
    EXPECT_EQ(lastTotal, weightBytes) << format;
    // Weights plus headers, metadata and the tokenizer (well under 1 MB).
    uint64_t size = pathBytes(out);
    EXPECT_GE(size, weightBytes) << format;
    EXPECT_LT(size, weightBytes + (1u << 20)) << format;
  }
  if (std::filesystem::is_directory(dir + "/tiny.safetensors"))
    EXPECT_TRUE(std::filesystem::exists(dir + "/tiny.safetensors/config.json"));
  std::filesystem::remove_all(dir);
}

} // namespace
