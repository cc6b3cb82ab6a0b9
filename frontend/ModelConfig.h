//===- ModelConfig.h - A loaded Llama model: config, tokenizer, weights -*-===//
//
// What every loader produces, whatever the checkpoint format: one
// ModelConfig, the tokenizer data found in the checkpoint and a WeightStore
// under canonical tensor names:
//
//   tok_embed                 [vocab, dim]
//   blk{i}.attn_norm          [dim]
//   blk{i}.q_proj             [n_heads * head_dim, dim]
//   blk{i}.k_proj, v_proj     [n_kv_heads * head_dim, dim]
//   blk{i}.o_proj             [dim, n_heads * head_dim]
//   blk{i}.ffn_norm           [dim]
//   blk{i}.gate_proj, up_proj [hidden_dim, dim]
//   blk{i}.down_proj          [dim, hidden_dim]
//   final_norm                [dim]
//   lm_head                   [vocab, dim]  (absent when tied_embeddings)
//
// Matrices are out x in (PyTorch nn.Linear). q_proj/k_proj rows are in the
// layout the checkpoint stores; `rope_layout` says which one that is.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_FRONTEND_MODELCONFIG_H
#define MIXQ_FRONTEND_MODELCONFIG_H

#include "frontend/WeightStore.h"
#include "support/Expected.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mixq {

/// How rope pairs elements of a head (see llm.rope).
enum class RopeLayout {
  /// (x[2i], x[2i+1]): Meta's original layout; GGUF llama and llama2.c.
  Interleaved,
  /// (x[i], x[i + Dh/2]): Hugging Face, whose converters permute q/k rows.
  RotateHalf,
};
const char *ropeLayoutName(RopeLayout layout);

/// Llama 3.1 `rope_scaling` of type "llama3". `factor == 0` means none.
struct RopeScaling {
  float factor = 0.0f;
  float lowFreqFactor = 1.0f;
  float highFreqFactor = 4.0f;
  int64_t originalMaxPositions = 8192;
  bool enabled() const { return factor != 0.0f; }
};

struct ModelConfig {
  int64_t dim = 0;         ///< hidden size
  int64_t hiddenDim = 0;   ///< FFN intermediate size
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t numKvHeads = 0;
  int64_t headDim = 0;     ///< dim / numHeads unless the checkpoint says
  int64_t vocabSize = 0;
  int64_t maxSeqLen = 0;   ///< maximum context (KV cache length)
  float normEps = 1e-5f;
  float ropeTheta = 10000.0f;
  RopeLayout ropeLayout = RopeLayout::Interleaved;
  RopeScaling ropeScaling;
  bool tiedEmbeddings = false;
  /// Element type of the checkpoint's matrices (f32, f16 or bf16).
  DType weightDType = DType::F32;

  /// Fails naming the first inconsistent field (non-positive sizes, heads
  /// not dividing, odd head_dim, non-finite eps/theta, ...).
  Status validate(const std::string &source) const;
  /// Total parameter count implied by the config.
  int64_t numParameters() const;
};

/// Token types as in GGUF's tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

/// The tokenizer as found in the checkpoint (the runtime builds the actual
/// encoder from it).
struct TokenizerData {
  /// "llama" (SentencePiece BPE with byte fallback; mixq-synth's byte-level
  /// vocabulary is one), "gpt2" (byte-level BPE without byte fallback, from
  /// GGUF or tokenizer.json), or empty when the checkpoint has none.
  std::string model;
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types; ///< TokenType values
  int32_t bosId = -1;
  int32_t eosId = -1;
  bool empty() const { return tokens.empty(); }
};

/// The expected shape of every canonical tensor of `config`, in a fixed
/// order (embeddings, blocks, final norm, head).
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
};
std::vector<ExpectedTensor> expectedTensors(const ModelConfig &config);

/// Canonical names of block `layer`'s tensors.
std::string blockTensorName(int64_t layer, const char *suffix);

struct Model {
  ModelConfig config;
  TokenizerData tokenizer;
  WeightStore weights;
  /// The checkpoint path and format ("gguf", "safetensors", "llama2c").
  std::string source;
  std::string format;
};

/// Checks that every expected tensor exists with the expected shape and a
/// float dtype, and that nothing unexpected is present; errors name the
/// source, the tensor and both shapes.
Status validateModel(const Model &model);

/// Producer of one tensor's bytes for the checkpoint writers, so that
/// multi-gigabyte checkpoints are written one tensor at a time.
struct TensorSource {
  std::string name; ///< canonical name
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  /// Writes numElements * dtypeSize bytes at `dst`.
  std::function<Status(uint8_t *dst)> fill;
};

/// TensorSources that copy the tensors of a loaded model (format
/// conversion), in expectedTensors() order.
std::vector<TensorSource> tensorSourcesOf(const Model &model);

} // namespace mixq

#endif // MIXQ_FRONTEND_MODELCONFIG_H
