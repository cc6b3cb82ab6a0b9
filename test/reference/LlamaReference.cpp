//===- LlamaReference.cpp - Plain fp32 Llama forward pass for tests -------===//
//
// Every op is written out as the loop LLM.md specifies, in f32, with
// sequential accumulation like llama2.c's run.c, so that a discrepancy with
// the compiler points at the compiler rather than at clever code here.
//===----------------------------------------------------------------------===//

#include "test/reference/LlamaReference.h"

#include <algorithm>
#include <cmath>
#include <string>

using namespace mixq;

//===----------------------------------------------------------------------===//
// Ops
//===----------------------------------------------------------------------===//

void reference::rmsNorm(const float *x, const float *weight, int64_t n,
                        float eps, float *out) {
  float sumSquares = 0.0f;
  for (int64_t d = 0; d < n; ++d)
    sumSquares += x[d] * x[d];
  float r = 1.0f / std::sqrt(sumSquares / float(n) + eps);
  for (int64_t d = 0; d < n; ++d)
    out[d] = x[d] * r * weight[d];
}

std::vector<float> reference::ropeFrequencies(int64_t headDim, float theta,
                                              const RopeScaling &scaling) {
  std::vector<float> freqs(headDim / 2);
  for (int64_t i = 0; i < headDim / 2; ++i) {
    // llama2.c's 1 / theta^(2i/Dh): the same value as theta^(-2i/Dh) up to
    // rounding, and what stories260K was sampled with.
    float freq = 1.0f / std::pow(theta, float(2 * i) / float(headDim));
    if (scaling.enabled()) {
      const float pi = 3.14159265358979323846f;
      float wavelen = 2.0f * pi / freq;
      float original = float(scaling.originalMaxPositions);
      float low = original / scaling.lowFreqFactor;
      float high = original / scaling.highFreqFactor;
      if (wavelen > low) {
        freq = freq / scaling.factor;
      } else if (!(wavelen < high)) {
        float t = (original / wavelen - scaling.lowFreqFactor) /
                  (scaling.highFreqFactor - scaling.lowFreqFactor);
        freq = (1.0f - t) * freq / scaling.factor + t * freq;
      }
    }
    freqs[i] = freq;
  }
  return freqs;
}

void reference::applyRope(float *x, int64_t numHeads, int64_t headDim,
                          int64_t pos, const std::vector<float> &freqs,
                          RopeLayout layout) {
  int64_t half = headDim / 2;
  for (int64_t i = 0; i < half; ++i) {
    float angle = float(pos) * freqs[i];
    float c = std::cos(angle), s = std::sin(angle);
    int64_t j0 = layout == RopeLayout::Interleaved ? 2 * i : i;
    int64_t j1 = layout == RopeLayout::Interleaved ? 2 * i + 1 : i + half;
    for (int64_t h = 0; h < numHeads; ++h) {
      float *head = x + h * headDim;
      float a = head[j0], b = head[j1];
      head[j0] = a * c - b * s;
      head[j1] = a * s + b * c;
    }
  }
}

int32_t reference::argmax(const std::vector<float> &values) {
  int32_t best = 0;
  for (size_t i = 1; i < values.size(); ++i)
    if (values[i] > values[best])
      best = int32_t(i);
  return best;
}

namespace {

/// out[r] = sum_d w[r, d] * x[d] for a rows x cols matrix (nn.Linear).
void matVec(const std::vector<float> &w, const float *x, int64_t rows,
            int64_t cols, float *out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = w.data() + r * cols;
    float sum = 0.0f;
    for (int64_t d = 0; d < cols; ++d)
      sum += row[d] * x[d];
    out[r] = sum;
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// LlamaReference
//===----------------------------------------------------------------------===//

Expected<LlamaReference> LlamaReference::create(const Model &model) {
  if (Status s = validateModel(model); !s)
    return s;
  LlamaReference ref;
  ref.config_ = model.config;
  const ModelConfig &c = ref.config_;

  Status error = Status::success();
  auto load = [&](const std::string &name) -> std::vector<float> {
    if (!error)
      return {};
    auto view = model.weights.get(name);
    if (!view) {
      error = view.status();
      return {};
    }
    auto data = readAllAsF32(**view);
    if (!data) {
      error = data.status();
      return {};
    }
    return data.take();
  };

  ref.embed_ = load("tok_embed");
  for (int64_t l = 0; l < c.numLayers; ++l) {
    Layer layer;
    layer.attnNorm = load(blockTensorName(l, "attn_norm"));
    layer.wq = load(blockTensorName(l, "q_proj"));
    layer.wk = load(blockTensorName(l, "k_proj"));
    layer.wv = load(blockTensorName(l, "v_proj"));
    layer.wo = load(blockTensorName(l, "o_proj"));
    layer.ffnNorm = load(blockTensorName(l, "ffn_norm"));
    layer.wGate = load(blockTensorName(l, "gate_proj"));
    layer.wUp = load(blockTensorName(l, "up_proj"));
    layer.wDown = load(blockTensorName(l, "down_proj"));
    ref.layers_.push_back(std::move(layer));
  }
  ref.finalNorm_ = load("final_norm");
  if (!c.tiedEmbeddings)
    ref.lmHead_ = load("lm_head");
  if (!error)
    return error;

  ref.freqs_ =
      reference::ropeFrequencies(c.headDim, c.ropeTheta, c.ropeScaling);
  size_t cacheSize = size_t(c.maxSeqLen * c.numKvHeads * c.headDim);
  ref.keyCache_.assign(c.numLayers, std::vector<float>(cacheSize, 0.0f));
  ref.valueCache_.assign(c.numLayers, std::vector<float>(cacheSize, 0.0f));
  return ref;
}

void LlamaReference::reset() {
  for (std::vector<float> &cache : keyCache_)
    std::fill(cache.begin(), cache.end(), 0.0f);
  for (std::vector<float> &cache : valueCache_)
    std::fill(cache.begin(), cache.end(), 0.0f);
  numCached_ = 0;
}

Status LlamaReference::checkInput(const int32_t *tokens, int64_t numTokens,
                                  int64_t startPos) const {
  if (numTokens <= 0)
    return makeError("no tokens to run");
  if (startPos < 0)
    return makeError("negative position ", startPos);
  // Same wording as the runtime's check before llm.attention.
  int64_t last = startPos + numTokens - 1;
  if (last >= config_.maxSeqLen)
    return makeError("context overflow: position ", last, " >= max_seq_len ",
                     config_.maxSeqLen);
  if (startPos > numCached_)
    return makeError("position ", startPos, " skips ahead of the cache (",
                     numCached_, " positions cached)");
  for (int64_t s = 0; s < numTokens; ++s)
    if (tokens[s] < 0 || tokens[s] >= config_.vocabSize)
      return makeError("token id ", tokens[s], " is out of range [0, ",
                       config_.vocabSize, ")");
  return Status::success();
}

Status LlamaReference::forward(int32_t token, int64_t pos,
                               std::vector<float> &logits) {
  if (Status s = checkInput(&token, 1, pos); !s)
    return s;
  run(&token, 1, pos, logits);
  return Status::success();
}

Status LlamaReference::prefill(const std::vector<int32_t> &tokens,
                               int64_t startPos,
                               std::vector<float> &lastLogits) {
  if (Status s = checkInput(tokens.data(), int64_t(tokens.size()), startPos);
      !s)
    return s;
  run(tokens.data(), int64_t(tokens.size()), startPos, lastLogits);
  return Status::success();
}

std::vector<int32_t>
LlamaReference::greedy(int32_t firstToken, int n,
                       std::vector<std::vector<float>> *stepLogits) {
  reset();
  std::vector<int32_t> out;
  if (stepLogits)
    stepLogits->clear();
  std::vector<float> logits;
  int32_t token = firstToken;
  for (int64_t pos = 0; pos < n; ++pos) {
    if (!forward(token, pos, logits))
      break;
    token = reference::argmax(logits);
    out.push_back(token);
    if (stepLogits)
      stepLogits->push_back(logits);
  }
  return out;
}

void LlamaReference::run(const int32_t *tokens, int64_t numTokens,
                         int64_t startPos, std::vector<float> &lastLogits) {
  const ModelConfig &c = config_;
  const int64_t S = numTokens, D = c.dim, F = c.hiddenDim, Dh = c.headDim;
  const int64_t qDim = c.numHeads * Dh, kvDim = c.numKvHeads * Dh;
  const int64_t groupSize = c.numHeads / c.numKvHeads;
  const float scale = 1.0f / std::sqrt(float(Dh));

  // Activations of all S rows, row-major.
  std::vector<float> x(S * D), xn(S * D), q(S * qDim), attn(S * qDim);
  std::vector<float> gate(S * F), up(S * F), tmp(S * D);
  std::vector<float> scores(c.maxSeqLen);

  for (int64_t s = 0; s < S; ++s)
    std::copy_n(embed_.begin() + int64_t(tokens[s]) * D, D, x.begin() + s * D);

  for (int64_t l = 0; l < c.numLayers; ++l) {
    const Layer &layer = layers_[l];
    std::vector<float> &keyCache = keyCache_[l], &valueCache = valueCache_[l];

    // Attention block. Keys and values go straight into the cache rows of
    // their positions (llm.attention's cache update).
    for (int64_t s = 0; s < S; ++s) {
      int64_t pos = startPos + s;
      float *row = xn.data() + s * D;
      reference::rmsNorm(x.data() + s * D, layer.attnNorm.data(), D, c.normEps,
                         row);
      float *qRow = q.data() + s * qDim;
      float *kRow = keyCache.data() + pos * kvDim;
      float *vRow = valueCache.data() + pos * kvDim;
      matVec(layer.wq, row, qDim, D, qRow);
      matVec(layer.wk, row, kvDim, D, kRow);
      matVec(layer.wv, row, kvDim, D, vRow);
      reference::applyRope(qRow, c.numHeads, Dh, pos, freqs_, c.ropeLayout);
      reference::applyRope(kRow, c.numKvHeads, Dh, pos, freqs_, c.ropeLayout);
    }
    // Only after all S rows are cached: row s attends to [0, startPos + s],
    // which includes earlier rows of this batch.
    for (int64_t s = 0; s < S; ++s) {
      int64_t pos = startPos + s;
      for (int64_t h = 0; h < c.numHeads; ++h) {
        const float *qh = q.data() + s * qDim + h * Dh;
        int64_t g = h / groupSize; // the kv head this query head reads
        float maxScore = -INFINITY;
        for (int64_t j = 0; j <= pos; ++j) {
          const float *kj = keyCache.data() + j * kvDim + g * Dh;
          float dot = 0.0f;
          for (int64_t d = 0; d < Dh; ++d)
            dot += qh[d] * kj[d];
          scores[j] = scale * dot;
          maxScore = std::max(maxScore, scores[j]);
        }
        float sum = 0.0f;
        for (int64_t j = 0; j <= pos; ++j) {
          scores[j] = std::exp(scores[j] - maxScore);
          sum += scores[j];
        }
        float *out = attn.data() + s * qDim + h * Dh;
        std::fill(out, out + Dh, 0.0f);
        for (int64_t j = 0; j <= pos; ++j) {
          const float *vj = valueCache.data() + j * kvDim + g * Dh;
          float p = scores[j] / sum;
          for (int64_t d = 0; d < Dh; ++d)
            out[d] += p * vj[d];
        }
      }
    }
    for (int64_t s = 0; s < S; ++s) {
      matVec(layer.wo, attn.data() + s * qDim, D, qDim, tmp.data() + s * D);
      for (int64_t d = 0; d < D; ++d)
        x[s * D + d] += tmp[s * D + d];
    }

    // Feed-forward block: down(swiglu(gate(xn), up(xn))).
    for (int64_t s = 0; s < S; ++s) {
      float *row = xn.data() + s * D;
      reference::rmsNorm(x.data() + s * D, layer.ffnNorm.data(), D, c.normEps,
                         row);
      float *g = gate.data() + s * F, *u = up.data() + s * F;
      matVec(layer.wGate, row, F, D, g);
      matVec(layer.wUp, row, F, D, u);
      for (int64_t f = 0; f < F; ++f)
        g[f] = g[f] / (1.0f + std::exp(-g[f])) * u[f];
      matVec(layer.wDown, g, D, F, tmp.data() + s * D);
      for (int64_t d = 0; d < D; ++d)
        x[s * D + d] += tmp[s * D + d];
    }
  }

  // llm.logits {last_token_only}.
  std::vector<float> last(D);
  reference::rmsNorm(x.data() + (S - 1) * D, finalNorm_.data(), D, c.normEps,
                     last.data());
  lastLogits.resize(c.vocabSize);
  matVec(lmHead_.empty() ? embed_ : lmHead_, last.data(), c.vocabSize, D,
         lastLogits.data());
  numCached_ = startPos + S;
}
