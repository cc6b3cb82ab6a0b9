//===- Synth.h - Deterministic synthetic Llama checkpoints ------*- C++ -*-===//
//
// mixq-synth's generator: Llama-shaped checkpoints of preset sizes whose
// weights look, to a quantizer, like those of a trained model: heavy-tailed
// entries (Student-t, nu = 4), log-normal per-output-channel scales, a few
// input channels with 5-20x larger weights (shared by the matrices that read
// the same normed activation) and norm weights near 1 that are larger on
// those channels. Real checkpoints are too big to ship and cannot be
// downloaded where tests run; these exercise the quantization schemes the
// same way.
//
// Every value is a pure function of (seed, tensor name, shape): each element
// is drawn from a counter-based hash of its index, so the bytes do not depend
// on generation order, chunking or thread count, and an f16 checkpoint is the
// f32 one rounded. (The row and column scales go through libm's exp/log/cos,
// so another platform's libm may change a few low bits.) Configs use Meta's
// interleaved rope layout; the Hugging Face writer path permutes q/k rows as
// HF's converters do.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_FRONTEND_SYNTH_H
#define MIXQ_FRONTEND_SYNTH_H

#include "frontend/ModelConfig.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mixq {

struct SynthPreset {
  std::string name;
  /// One line for --list-presets.
  std::string description;
  ModelConfig config;
};

/// tiny, small, llama2-7b, llama3-8b (in that order).
std::vector<SynthPreset> synthPresets();
/// The config of preset `name`, or an error listing the presets.
Expected<ModelConfig> presetConfig(const std::string &name);

/// One TensorSource per expectedTensors(config) entry, in that order, all of
/// type `dtype` (f32, f16 or bf16). Each fill() generates its tensor with
/// std::thread::hardware_concurrency() threads. q_proj/k_proj rows are in
/// `layout` (config.ropeLayout is ignored): RotateHalf gives the rows that
/// Hugging Face's converters make of the Interleaved ones, so both describe
/// the same model.
std::vector<TensorSource>
synthTensors(const ModelConfig &config, uint64_t seed, DType dtype,
             RopeLayout layout = RopeLayout::Interleaved);

/// Generates the canonical tensor `name` of `shape` into `dst`
/// (numElements * dtypeSize(dtype) bytes). `numThreads` 0 means
/// hardware_concurrency(); the bytes are the same for every thread count.
/// Fails for a non-float dtype or a shape that is not 1-D or 2-D.
Status synthFillTensor(const std::string &name,
                       const std::vector<int64_t> &shape, uint64_t seed,
                       DType dtype, uint8_t *dst, unsigned numThreads = 0);

/// A SentencePiece-style byte-fallback vocabulary of `vocabSize` tokens
/// (model "llama"): 0 "<unk>", 1 "<s>" (BOS), 2 "</s>" (EOS), 3..258
/// "<0x00>".."<0xFF>", then distinct filler pieces built from English
/// letters and words ("\xE2\x96\x81" marks a leading space) with decreasing
/// scores. A vocabulary smaller than 259 keeps only its first tokens.
TokenizerData synthTokenizer(int64_t vocabSize);

/// Called after each tensor is generated with the tensor bytes done so far
/// and the total (headers not counted).
using ProgressCallback =
    std::function<void(uint64_t bytesDone, uint64_t bytesTotal)>;

/// Hugging Face's shard size ("5GB").
constexpr uint64_t kSynthShardBytes = 5000000000ull;

/// Writes preset `preset` as `format`: "gguf" (a file), "safetensors" (a
/// Hugging Face folder `out`, rotate-half q/k rows, 5 GB shards) or
/// "llama2c" (a .bin; f32 only). `dtype` overrides the preset's.
Status writeSynthCheckpoint(const std::string &out, const std::string &preset,
                            const std::string &format, uint64_t seed,
                            std::optional<DType> dtype,
                            ProgressCallback progress = {});
/// The same for any valid config (its weightDType is the tensors' type).
Status writeSynthModel(const std::string &out, const ModelConfig &config,
                       const std::string &format, uint64_t seed,
                       ProgressCallback progress = {});

} // namespace mixq

#endif // MIXQ_FRONTEND_SYNTH_H
