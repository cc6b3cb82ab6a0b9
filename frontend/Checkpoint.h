//===- Checkpoint.h - Loading and writing Llama checkpoints -----*- C++ -*-===//
//
// Entry points of the three loaders and writers. loadCheckpoint() detects
// the format from the path (a directory or .safetensors file: Hugging Face;
// GGUF magic: GGUF; otherwise a llama2.c .bin) and validates the result.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_FRONTEND_CHECKPOINT_H
#define MIXQ_FRONTEND_CHECKPOINT_H

#include "frontend/ModelConfig.h"

#include <memory>
#include <string>
#include <vector>

namespace mixq {

struct LoadOptions {
  /// llama2.c: the tokenizer.bin to read (optional).
  std::string tokenizerPath;
  /// Context length to use instead of the checkpoint's (0: keep).
  int64_t maxSeqLenOverride = 0;
};

/// Detects the format and loads; the result passed validateModel().
Expected<std::unique_ptr<Model>> loadCheckpoint(const std::string &path,
                                                const LoadOptions &options = {});

/// GGUF v2/v3 (frontend/GGUF.cpp).
Expected<std::unique_ptr<Model>> loadGGUF(const std::string &path);
/// A Hugging Face folder (config.json + model.safetensors or a sharded
/// index), or a single .safetensors file with config.json beside it
/// (frontend/Safetensors.cpp).
Expected<std::unique_ptr<Model>> loadHuggingFace(const std::string &path);
/// llama2.c legacy .bin (frontend/Llama2c.cpp).
Expected<std::unique_ptr<Model>> loadLlama2c(const std::string &path,
                                             const std::string &tokenizerPath);
/// llama2.c tokenizer.bin into `out` (model "llama", BOS 1, EOS 2).
Status loadLlama2cTokenizer(const std::string &path, int64_t vocabSize,
                            TokenizerData &out);

/// Writes a GGUF v3 llama checkpoint with `tokenizer` in its metadata.
/// Tensors are written in `tensors` order, each produced by its fill().
Status writeGGUF(const std::string &path, const ModelConfig &config,
                 const TokenizerData &tokenizer,
                 const std::vector<TensorSource> &tensors);
/// Writes a Hugging Face folder: config.json, model.safetensors (or shards
/// of at most maxShardBytes plus model.safetensors.index.json when
/// maxShardBytes > 0 and the tensors exceed it) and tokenizer.json.
/// q_proj/k_proj are written as given: a config with RotateHalf layout
/// must be given rows in that layout.
Status writeHuggingFace(const std::string &dir, const ModelConfig &config,
                        const TokenizerData &tokenizer,
                        const std::vector<TensorSource> &tensors,
                        uint64_t maxShardBytes = 0);
/// Writes a llama2.c legacy .bin (f32 only, interleaved rope layout).
Status writeLlama2c(const std::string &path, const ModelConfig &config,
                    const std::vector<TensorSource> &tensors);

/// The permutation Hugging Face converters apply to q/k rows: row
/// `h*Dh + 2i + j` (interleaved pair i, element j) moves to row
/// `h*Dh + j*Dh/2 + i` (rotate-half). Returns, for each destination row, its
/// source row.
std::vector<int64_t> interleavedToRotateHalfRows(int64_t numHeads,
                                                 int64_t headDim);

} // namespace mixq

#endif // MIXQ_FRONTEND_CHECKPOINT_H
