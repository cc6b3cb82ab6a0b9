//===- ModelConfig.cpp - Model config, canonical tensors, validation ------===//

#include "frontend/Checkpoint.h"
#include "frontend/ModelConfig.h"

#include <cmath>
#include <cstring>
#include <set>

using namespace mixq;

const char *mixq::ropeLayoutName(RopeLayout layout) {
  return layout == RopeLayout::Interleaved ? "interleaved" : "rotate_half";
}

Status ModelConfig::validate(const std::string &source) const {
  auto positive = [&](const char *field, int64_t value) -> Status {
    if (value <= 0)
      return makeError(source, ": config field '", field,
                       "' must be positive, got ", value);
    return Status::success();
  };
  struct Field {
    const char *name;
    int64_t value;
  };
  for (Field f : {Field{"dim", dim}, Field{"hidden_dim", hiddenDim},
                  Field{"n_layers", numLayers}, Field{"n_heads", numHeads},
                  Field{"n_kv_heads", numKvHeads}, Field{"head_dim", headDim},
                  Field{"vocab_size", vocabSize},
                  Field{"max_seq_len", maxSeqLen}})
    if (Status s = positive(f.name, f.value); !s)
      return s;
  if (numHeads % numKvHeads != 0)
    return makeError(source, ": n_heads (", numHeads,
                     ") is not a multiple of n_kv_heads (", numKvHeads, ")");
  if (headDim % 2 != 0)
    return makeError(source, ": head_dim (", headDim,
                     ") must be even for rope");
  if (!(normEps > 0.0f) || !std::isfinite(normEps))
    return makeError(source, ": rms norm eps must be positive and finite");
  if (!(ropeTheta > 0.0f) || !std::isfinite(ropeTheta))
    return makeError(source, ": rope theta must be positive and finite");
  if (ropeScaling.enabled() &&
      (!(ropeScaling.factor > 0.0f) || !(ropeScaling.lowFreqFactor > 0.0f) ||
       !(ropeScaling.highFreqFactor > ropeScaling.lowFreqFactor) ||
       ropeScaling.originalMaxPositions <= 0))
    return makeError(source,
                     ": rope_scaling needs factor > 0, low_freq_factor > 0, "
                     "high_freq_factor > low_freq_factor and "
                     "original_max_position_embeddings > 0");
  if (!isFloatDType(weightDType))
    return makeError(source, ": weights must be f32, f16 or bf16, not ",
                     dtypeName(weightDType));
  // Guard the products used for shapes against overflow from corrupt
  // headers: every dimension is bounded far below what fits.
  const int64_t limit = int64_t(1) << 24;
  for (Field f : {Field{"dim", dim}, Field{"hidden_dim", hiddenDim},
                  Field{"n_layers", numLayers}, Field{"n_heads", numHeads},
                  Field{"head_dim", headDim}, Field{"vocab_size", vocabSize},
                  Field{"max_seq_len", maxSeqLen}})
    if (f.value > limit)
      return makeError(source, ": config field '", f.name, "' = ", f.value,
                       " is implausibly large (limit ", limit, ")");
  return Status::success();
}

int64_t ModelConfig::numParameters() const {
  int64_t total = 0;
  for (const ExpectedTensor &t : expectedTensors(*this)) {
    int64_t n = 1;
    for (int64_t d : t.shape)
      n *= d;
    total += n;
  }
  return total;
}

std::string mixq::blockTensorName(int64_t layer, const char *suffix) {
  return "blk" + std::to_string(layer) + "." + suffix;
}

std::vector<ExpectedTensor> mixq::expectedTensors(const ModelConfig &c) {
  std::vector<ExpectedTensor> out;
  int64_t qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
  out.push_back({"tok_embed", {c.vocabSize, c.dim}});
  for (int64_t l = 0; l < c.numLayers; ++l) {
    out.push_back({blockTensorName(l, "attn_norm"), {c.dim}});
    out.push_back({blockTensorName(l, "q_proj"), {qDim, c.dim}});
    out.push_back({blockTensorName(l, "k_proj"), {kvDim, c.dim}});
    out.push_back({blockTensorName(l, "v_proj"), {kvDim, c.dim}});
    out.push_back({blockTensorName(l, "o_proj"), {c.dim, qDim}});
    out.push_back({blockTensorName(l, "ffn_norm"), {c.dim}});
    out.push_back({blockTensorName(l, "gate_proj"), {c.hiddenDim, c.dim}});
    out.push_back({blockTensorName(l, "up_proj"), {c.hiddenDim, c.dim}});
    out.push_back({blockTensorName(l, "down_proj"), {c.dim, c.hiddenDim}});
  }
  out.push_back({"final_norm", {c.dim}});
  if (!c.tiedEmbeddings)
    out.push_back({"lm_head", {c.vocabSize, c.dim}});
  return out;
}

Status mixq::validateModel(const Model &model) {
  if (Status s = model.config.validate(model.source); !s)
    return s;
  std::set<std::string> expectedNames;
  for (const ExpectedTensor &t : expectedTensors(model.config)) {
    expectedNames.insert(t.name);
    const TensorView *view = model.weights.lookup(t.name);
    if (!view)
      return makeError(model.source, ": missing tensor '", t.name,
                       "' (expected shape ", formatShape(t.shape), ")");
    if (view->shape != t.shape)
      return makeError(model.source, ": tensor '", t.name, "' has shape ",
                       formatShape(view->shape), " but the config implies ",
                       formatShape(t.shape));
    if (!isFloatDType(view->dtype))
      return makeError(model.source, ": tensor '", t.name, "' has type ",
                       dtypeName(view->dtype),
                       "; only f32, f16 and bf16 weights are supported");
  }
  for (const TensorView *view : model.weights.tensors())
    if (!expectedNames.count(view->name))
      return makeError(model.source, ": unexpected tensor '", view->name,
                       "' for this config");
  return model.weights.checkNoOverlaps();
}

std::vector<TensorSource> mixq::tensorSourcesOf(const Model &model) {
  std::vector<TensorSource> out;
  for (const ExpectedTensor &t : expectedTensors(model.config)) {
    const TensorView *view = model.weights.lookup(t.name);
    if (!view)
      continue;
    TensorSource src;
    src.name = view->name;
    src.dtype = view->dtype;
    src.shape = view->shape;
    src.fill = [view](uint8_t *dst) {
      std::memcpy(dst, view->data, view->byteSize);
      return Status::success();
    };
    out.push_back(std::move(src));
  }
  return out;
}

std::vector<int64_t> mixq::interleavedToRotateHalfRows(int64_t numHeads,
                                                       int64_t headDim) {
  std::vector<int64_t> sourceOf(numHeads * headDim);
  int64_t half = headDim / 2;
  for (int64_t h = 0; h < numHeads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j)
        sourceOf[h * headDim + j * half + i] = h * headDim + 2 * i + j;
  return sourceOf;
}
