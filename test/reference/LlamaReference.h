//===- LlamaReference.h - Plain fp32 Llama forward pass for tests -*- C++
//-*-===//
//
// The independent reference the end-to-end tests compare the compiler
// against. It shares nothing with the compiler beyond the checkpoint loaders:
// plain loops over fp32 copies of the weights, implementing the op semantics
// of docs/dialects/LLM.md (llm.rms_norm, llm.rope with both layouts and the
// optional llama3 scaling, llm.attention with a KV cache, GQA and causal
// masking, llm.swiglu, llm.logits) in the order llama2.c's run.c does for
// stories260K. It favours being obviously right over being fast; it is still
// fast enough for the small models tests use.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_TEST_REFERENCE_LLAMAREFERENCE_H
#define MIXQ_TEST_REFERENCE_LLAMAREFERENCE_H

#include "frontend/ModelConfig.h"
#include "support/Expected.h"

#include <cstdint>
#include <vector>

namespace mixq {
namespace reference {

/// llm.rms_norm of one row of `n` elements:
/// out[d] = x[d] / sqrt(mean(x^2) + eps) * weight[d]. `out` may alias `x`.
void rmsNorm(const float *x, const float *weight, int64_t n, float eps,
             float *out);

/// The Dh/2 rope frequencies of llm.rope: theta^(-2i/Dh), then rescaled by
/// `scaling` when it is enabled (#llm.llama3_rope_scaling), all in f32.
std::vector<float> ropeFrequencies(int64_t headDim, float theta,
                                   const RopeScaling &scaling);

/// llm.rope in place on one row of `numHeads` heads of `headDim` at
/// position `pos`, pairing elements as `layout` says.
void applyRope(float *x, int64_t numHeads, int64_t headDim, int64_t pos,
               const std::vector<float> &freqs, RopeLayout layout);

/// Index of the largest element, the first one on ties (as llama2.c).
int32_t argmax(const std::vector<float> &values);

} // namespace reference

/// An fp32 Llama with its own KV cache of config.maxSeqLen positions.
class LlamaReference {
public:
  /// Converts the model's weights to fp32 (once). Fails when the model does
  /// not pass validateModel() or a tensor cannot be converted.
  static Expected<LlamaReference> create(const Model &model);

  const ModelConfig &config() const { return config_; }

  /// Runs `token` at position `pos` (llama2.c's forward()) and writes the
  /// vocabulary logits. Positions [0, pos) must have been run before (since
  /// the last reset()); running an earlier position again overwrites the
  /// cache from there, like a rewind.
  Status forward(int32_t token, int64_t pos, std::vector<float> &logits);

  /// Runs `tokens` at positions [startPos, startPos + size) as one batch, as
  /// the compiler's prefill does, and writes the logits of the last one.
  /// Checks everything before touching the cache.
  Status prefill(const std::vector<int32_t> &tokens, int64_t startPos,
                 std::vector<float> &lastLogits);

  /// Forgets every cached position.
  void reset();

  /// reset(), then greedy decoding: runs `firstToken` at position 0 and
  /// returns the `n` tokens picked by argmax after it (not `firstToken`
  /// itself). When `stepLogits` is given, it receives the logits of each of
  /// the `n` steps. Stops early at the end of the context, and returns an
  /// empty list for an invalid `firstToken`.
  std::vector<int32_t>
  greedy(int32_t firstToken, int n,
         std::vector<std::vector<float>> *stepLogits = nullptr);

  /// How many positions the cache holds.
  int64_t numCached() const { return numCached_; }

private:
  LlamaReference() = default;

  struct Layer {
    std::vector<float> attnNorm, wq, wk, wv, wo;
    std::vector<float> ffnNorm, wGate, wUp, wDown;
  };

  /// Runs tokens[0..S) at positions [startPos, startPos + S), already
  /// checked, and writes the logits of the last row.
  void run(const int32_t *tokens, int64_t numTokens, int64_t startPos,
           std::vector<float> &lastLogits);
  /// The error for a bad token or position range, or success.
  Status checkInput(const int32_t *tokens, int64_t numTokens,
                    int64_t startPos) const;

  ModelConfig config_;
  std::vector<float> embed_;
  std::vector<Layer> layers_;
  std::vector<float> finalNorm_;
  /// Empty when the head is tied to embed_.
  std::vector<float> lmHead_;
  std::vector<float> freqs_;
  /// Per layer, maxSeqLen rows of numKvHeads * headDim (post-rope keys).
  std::vector<std::vector<float>> keyCache_, valueCache_;
  int64_t numCached_ = 0;
};

} // namespace mixq

#endif // MIXQ_TEST_REFERENCE_LLAMAREFERENCE_H
