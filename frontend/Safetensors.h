//===- Safetensors.h - safetensors files and Hugging Face folders -*- C++
//-*-===//
//
// A Hugging Face Llama checkpoint is a folder: config.json
// (LlamaForCausalLM), the weights as one model.safetensors or as shards
// listed by model.safetensors.index.json, and a tokenizer (tokenizer.model,
// a SentencePiece protobuf, or tokenizer.json).
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of
// JSON describing each tensor (dtype, shape, [begin, end) byte range relative
// to the end of the header), then the data. The parser works on a memory
// range (a mapping, or a fuzzer's input) and checks every range, size and
// alignment before a tensor is handed out, so corrupt files are errors that
// name the file, the tensor and the bad value, never crashes.
//
// The JSON parsers (config.json, the shard index, tokenizer.json) take text
// and touch no file, so the fuzzer can run them too; loadHuggingFace()
// (Checkpoint.h) reads the files and puts the pieces together.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_FRONTEND_SAFETENSORS_H
#define MIXQ_FRONTEND_SAFETENSORS_H

#include "frontend/ModelConfig.h"
#include "support/Expected.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mixq {

//===----------------------------------------------------------------------===//
// safetensors files
//===----------------------------------------------------------------------===//

/// Headers larger than this are rejected before they are parsed (the
/// reference implementation's limit), so a corrupt length cannot make the
/// parser allocate gigabytes.
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;

/// One tensor of a parsed safetensors file. Its bytes lie inside the parsed
/// range, aligned to the element size and overlapping no other tensor.
struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  /// data_offsets: the byte range relative to the first byte after the
  /// header.
  uint64_t dataBegin = 0;
  uint64_t dataEnd = 0;
  /// dataOffset + dataBegin: where the bytes start in the file.
  uint64_t fileOffset = 0;
  uint64_t byteSize() const { return dataEnd - dataBegin; }
};

struct SafetensorsHeader {
  /// The JSON header's length N (padding included).
  uint64_t headerSize = 0;
  /// 8 + N: the offset of the data section in the file.
  uint64_t dataOffset = 0;
  /// `__metadata__` (string to string).
  std::map<std::string, std::string> metadata;
  /// Ordered by fileOffset (then name, for empty tensors).
  std::vector<SafetensorsTensor> tensors;

  const SafetensorsTensor *find(const std::string &name) const;
};

/// The safetensors dtype string of a loadable type: "F32", "F16", "BF16";
/// nullptr for the others.
const char *safetensorsDTypeName(DType dtype);

/// Parses the safetensors file held in [data, data + size). Only F32, F16
/// and BF16 tensors are accepted: other safetensors dtypes (F64, I8, ...)
/// are "unsupported dtype" errors and anything else "unknown dtype" errors.
/// Errors name `what`, the tensor or key, and the bad value.
Expected<SafetensorsHeader> parseSafetensors(const uint8_t *data, uint64_t size,
                                             const std::string &what);

/// Writes a safetensors file at `path` (through `path` + ".tmp", renamed
/// when complete). Tensors are stored under their TensorSource names, each
/// produced by its fill() into one reused buffer, so only the largest tensor
/// is ever in memory. The header is padded with spaces so that the data
/// starts 8-byte aligned; within the file, tensors with larger elements come
/// first (otherwise in the given order) so that every tensor is aligned to
/// its element size without gaps, which the format does not allow. `scratch`
/// (optional) is the reused buffer, to share it between files.
Status writeSafetensors(const std::string &path,
                        const std::vector<TensorSource> &tensors,
                        const std::map<std::string, std::string> &metadata,
                        std::vector<uint8_t> *scratch = nullptr);

/// Writes `contents` to `path + ".tmp"`, flushes it to disk and renames it
/// over `path`, so that a failed write (a full disk) is reported, naming the
/// file, and leaves no half-written file behind.
Status writeFileAtomically(const std::string &path,
                           const std::string &contents);

//===----------------------------------------------------------------------===//
// Hugging Face Llama folders
//===----------------------------------------------------------------------===//

/// Canonical name (ModelConfig.h) of a LlamaForCausalLM tensor name:
/// "model.layers.3.self_attn.q_proj.weight" -> "blk3.q_proj",
/// "model.embed_tokens.weight" -> "tok_embed"; nullopt for any other name.
std::optional<std::string> canonicalNameOfHFTensor(const std::string &name);
/// The inverse: "blk3.q_proj" -> "model.layers.3.self_attn.q_proj.weight".
std::optional<std::string> hfNameOfCanonicalTensor(const std::string &name);

/// Reads a LlamaForCausalLM config.json. Missing required keys and values of
/// the wrong JSON type are errors naming `what` and the key; the result has
/// rotate-half rope layout and passed ModelConfig::validate(). weightDType
/// comes from torch_dtype (f32 when absent or not a float type); the loader
/// replaces it with the embedding's type.
Expected<ModelConfig> parseLlamaConfigJson(const std::string &text,
                                           const std::string &what);
/// config.json text for `config` (bos/eos token ids from `tokenizer`, when
/// it has them).
std::string llamaConfigJson(const ModelConfig &config,
                            const TokenizerData &tokenizer);

/// The weight_map of a model.safetensors.index.json: tensor name to shard
/// file name. Shard names must be plain file names (no folders), so an index
/// cannot point outside its folder.
Expected<std::map<std::string, std::string>>
parseSafetensorsIndex(const std::string &text, const std::string &what);

/// Reads a Hugging Face tokenizer.json (`text`, from file `what`) holding a
/// BPE model, with the text of tokenizer_config.json (`tokenizerConfig`,
/// empty when there is none; from file `tokenizerConfigWhat`) for the
/// BOS/EOS tokens. The vocabulary and added_tokens must number the tokens
/// 0..n-1 without gaps. Scores are -id (merge order), types Byte for
/// "<0xXX>" pieces, Control for special added tokens, UserDefined for other
/// added tokens, Unknown for model.unk_token, else Normal. BOS/EOS are
/// tokenizer_config.json's bos_token/eos_token, else the pieces "<s>" /
/// "<|begin_of_text|>" and "</s>" / "<|end_of_text|>", else -1. Model
/// "llama" with byte_fallback (converted SentencePiece), else "gpt2".
Expected<TokenizerData>
parseHFTokenizerJson(const std::string &text, const std::string &what,
                     const std::string &tokenizerConfig,
                     const std::string &tokenizerConfigWhat);
/// tokenizer.json text: a BPE model with byte_fallback, `tokenizer`'s
/// vocabulary, no merges, added_tokens for its Control, Unknown and
/// UserDefined tokens, and the normalizer and decoder of Hugging Face's
/// Llama tokenizer. Scores and the Unused type are not representable and
/// are lost. Fails for duplicate pieces and pieces that are not UTF-8.
Expected<std::string> hfTokenizerJson(const TokenizerData &tokenizer);
/// tokenizer_config.json text naming the BOS/EOS (and unk) tokens.
Expected<std::string> hfTokenizerConfigJson(const TokenizerData &tokenizer,
                                            const ModelConfig &config);

/// True when this build reads tokenizer.model files (SentencePiece found at
/// configure time).
bool sentencePieceAvailable();
/// Reads a SentencePiece tokenizer.model (model "llama"). Fails, naming
/// `path`, when the file is not a valid model or SentencePiece is not
/// available.
Expected<TokenizerData> loadSentencePieceModel(const std::string &path);

/// A JSON value as error text: short values verbatim, long ones cut, nested
/// containers only described. Shared by the safetensors and Hugging Face
/// parsers, whose inputs are equally hostile.
std::string describeJsonValue(const nlohmann::json &value);
/// A tensor name or piece as quoted error text, cut at 200 bytes.
std::string quoteName(const std::string &name);

} // namespace mixq

#endif // MIXQ_FRONTEND_SAFETENSORS_H
