//===- Tokenizer.h - SentencePiece-BPE and byte tokenizers ------*- C++ -*-===//
//
// The runtime's text <-> token-id conversion. A TokenizerSpec is the data (a
// package manifest's "tokenizer" section, or a llama2.c tokenizer.bin); a
// Tokenizer is the encoder/decoder built from it once:
//
//   "llama": SentencePiece BPE with byte fallback, as llama2.c's encode() and
//            decode() (dummy-prefix space, merges by highest piece score,
//            "<0xXX>" byte tokens). Pieces may spell the space as ' ' (llama2.c
//            tokenizer.bin) or as U+2581 (GGUF, tokenizer.model); both work.
//   "byte":  no vocabulary needed: ids 0..255 are the bytes themselves.
//
// TextStreamer makes piece-by-piece output safe to print: a multi-byte UTF-8
// character split over several byte tokens is printed once it is complete.
//
// Plain C++17: no MLIR or LLVM (the runtime builds without them). Malformed
// input (files, JSON, text) is reported as an error, never an abort.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_RUNTIME_TOKENIZER_H
#define MIXQ_RUNTIME_TOKENIZER_H

#include "support/Expected.h"

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mixq::runtime {

/// GGUF token_type values, as stored in TokenizerSpec::types.
enum class TokenKind : int32_t {
  Undefined = 0, ///< treated as Normal
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

/// What a package's manifest "tokenizer" section carries.
struct TokenizerSpec {
  /// "llama" (SentencePiece BPE with byte fallback) or "byte" (no vocabulary
  /// needed: ids 0..255 are bytes). Other names load from JSON but are
  /// rejected by Tokenizer::create.
  std::string model;
  std::vector<std::string> tokens;
  /// Merge priorities (higher merges first); empty means all 0.
  std::vector<float> scores;
  /// TokenKind values; empty means "infer": "<0xXX>" pieces are bytes, the
  /// BOS/EOS ids are control tokens, everything else is normal.
  std::vector<int32_t> types;
  int32_t bosId = -1;
  int32_t eosId = -1;
};

/// The number of token ids `spec` defines: tokens.size() for "llama"; for
/// "byte" at least 256 and large enough to hold bosId and eosId.
size_t tokenizerSpecVocabSize(const TokenizerSpec &spec);

/// {"model", "tokens", "scores", "types", "bos", "eos"}. A token that is not
/// valid UTF-8 (JSON strings must be) is written as {"hex": "<lowercase hex
/// of its bytes>"}; tokenizerSpecFromJson reads both forms.
nlohmann::json tokenizerSpecToJson(const TokenizerSpec &spec);

/// The inverse of tokenizerSpecToJson. "model" and "tokens" are required;
/// "scores" and "types" may be missing or empty, "bos"/"eos" default to -1.
/// Checks the types, that the arrays have one entry per token, that types are
/// GGUF token types (0..6), that scores are finite floats and that bos/eos
/// are -1 or in range; errors name the key (and index) at fault.
Expected<TokenizerSpec> tokenizerSpecFromJson(const nlohmann::json &json);

/// Reads a llama2.c tokenizer.bin: `int32 max_token_length`, then for each of
/// `vocabSize` tokens `float32 score, int32 length, length bytes`. Sets
/// model = "llama", bos = 1, eos = 2, types: "<0xXX>" -> byte, "<unk>" ->
/// unknown, ids 1 and 2 and "<s>", "</s>" -> control, the rest normal. A
/// truncated file, a negative or too long length, a NaN score, or bytes left
/// over after `vocabSize` tokens are errors naming the offset and token index.
Expected<TokenizerSpec> loadLlama2cTokenizer(const std::string &path,
                                             int32_t vocabSize);
Expected<TokenizerSpec> loadLlama2cTokenizer(const uint8_t *data, size_t size,
                                             int32_t vocabSize);

/// An immutable encoder/decoder; cheap to copy (the tables are shared).
class Tokenizer {
public:
  /// Builds the piece table once. Rejects unknown models, "llama" without
  /// tokens, arrays of the wrong length, unknown token types, NaN scores and
  /// out-of-range bos/eos.
  static Expected<Tokenizer> create(TokenizerSpec spec);

  /// "llama": SentencePiece BPE as llama2.c's encode(): BOS when `addBos`
  /// (and the vocabulary has one); when `text` is non-empty, a dummy-prefix
  /// space is prepended; every UTF-8 code point that is a normal or
  /// user-defined piece becomes that piece, anything else becomes its bytes'
  /// "<0xXX>" tokens (or the unknown token where a byte has none); then the
  /// adjacent pair whose concatenation is a piece with the highest score is
  /// merged, leftmost first on ties, until no pair merges. Byte tokens never
  /// merge, and control/unknown/byte pieces are never produced by merging
  /// (text "<s>" is not BOS). O(n log n) in the length of `text`.
  /// "byte": BOS when `addBos` and one exists, then the bytes of `text`.
  /// Text that is not valid UTF-8 is an error naming the byte offset.
  Expected<std::vector<int32_t>> encode(std::string_view text,
                                        bool addBos) const;

  /// The text of token `id` when it follows `previous` (llama2.c's decode):
  /// the leading space of a piece right after BOS is stripped, "<0xXX>" byte
  /// tokens are that one byte, control and unused tokens are "". Pieces are
  /// returned with U+2581 as ' '. An out-of-range `id` is an error naming it
  /// and the vocabulary size; `previous` may be anything.
  Expected<std::string> decode(int32_t previous, int32_t id) const;

  int32_t bos() const;
  int32_t eos() const;
  size_t vocabSize() const;
  const std::string &model() const;

private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

/// A UTF-8-safe streaming helper for printing decoded pieces: bytes that end
/// inside a multi-byte sequence are held back until the sequence completes.
/// Bytes that cannot start or continue a valid sequence are passed through
/// as they are (never held forever).
class TextStreamer {
public:
  /// Appends `piece`; returns what can be printed now.
  std::string push(const std::string &piece);
  /// Returns (and forgets) whatever is still held back, complete or not.
  std::string flush();

private:
  std::string pending_;
};

/// The tokenizer a package manifest carries (its "tokenizer", as
/// tokenizerSpecToJson writes it), or none when it has none (absent or
/// null); the error names the fault in the data.
Expected<std::optional<Tokenizer>>
tokenizerFromManifest(const nlohmann::json &manifest);

} // namespace mixq::runtime

#endif // MIXQ_RUNTIME_TOKENIZER_H
