//===- Tokenizer.cpp - SentencePiece-BPE and byte tokenizers --------------===//
//
// See Tokenizer.h. The BPE encoder is llama2.c's encode() with the quadratic
// "rescan every pair after every merge" loop replaced by a max-heap of
// candidate pairs over a linked list of symbols (stale heap entries are
// detected with per-symbol version numbers), which makes exactly the same
// choices: the highest-scoring merge first, the leftmost one on ties.
//===----------------------------------------------------------------------===//

#include "runtime/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <queue>
#include <sys/stat.h>
#include <unordered_map>

using namespace mixq;
using namespace mixq::runtime;

namespace {

/// SentencePiece's visible space, U+2581 ("▁").
constexpr std::string_view kSpaceMark = "\xE2\x96\x81";

/// Largest tokenizer.bin read into memory (the Llama 3 vocabulary in this
/// format is a few MB; anything this large is the wrong file).
constexpr uint64_t kMaxTokenizerFileSize = uint64_t(1) << 30;

/// The length of the valid UTF-8 sequence starting at s[i], or 0 when the
/// bytes there are not one (bad lead byte, bad or missing continuation,
/// overlong form, surrogate, beyond U+10FFFF).
size_t utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return uint8_t(s[i + k]); };
  uint8_t b0 = byte(0);
  if (b0 < 0x80)
    return 1;
  size_t length;
  uint8_t lo = 0x80, hi = 0xBF; // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0)
      lo = 0xA0; // overlong
    else if (b0 == 0xED)
      hi = 0x9F; // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0)
      lo = 0x90; // overlong
    else if (b0 == 0xF4)
      hi = 0x8F; // > U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < length)
    return 0;
  if (byte(1) < lo || byte(1) > hi)
    return 0;
  for (size_t k = 2; k < length; ++k)
    if ((byte(k) & 0xC0) != 0x80)
      return 0;
  return length;
}

/// The byte offset of the first invalid UTF-8 sequence, or npos.
size_t firstInvalidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t length = utf8SequenceLength(s, i);
    if (length == 0)
      return i;
    i += length;
  }
  return std::string_view::npos;
}

std::string hexByte(uint8_t b) {
  static const char digits[] = "0123456789ABCDEF";
  return std::string{digits[b >> 4], digits[b & 15]};
}

std::string toHex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    out.push_back(digits[uint8_t(c) >> 4]);
    out.push_back(digits[uint8_t(c) & 15]);
  }
  return out;
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// The byte a "<0xXX>" piece stands for, or -1.
int bytePieceValue(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>')
    return -1;
  int hi = hexDigit(piece[3]), lo = hexDigit(piece[4]);
  if (hi < 0 || lo < 0)
    return -1;
  return hi * 16 + lo;
}

/// `piece` with every U+2581 replaced by ' '.
std::string normalizeSpaces(const std::string &piece) {
  if (piece.find(kSpaceMark) == std::string::npos)
    return piece;
  std::string out;
  out.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
      out.push_back(' ');
      i += kSpaceMark.size();
    } else {
      out.push_back(piece[i++]);
    }
  }
  return out;
}

bool isSupportedModel(const std::string &model) {
  return model == "llama" || model == "byte";
}

/// Checks what both tokenizerSpecFromJson and Tokenizer::create require.
Status checkSpec(const TokenizerSpec &spec, const char *what) {
  size_t n = spec.tokens.size();
  if (!spec.scores.empty() && spec.scores.size() != n)
    return makeError(what, ": \"scores\" has ", spec.scores.size(),
                     " entries but \"tokens\" has ", n);
  if (!spec.types.empty() && spec.types.size() != n)
    return makeError(what, ": \"types\" has ", spec.types.size(),
                     " entries but \"tokens\" has ", n);
  for (size_t i = 0; i < spec.types.size(); ++i)
    if (spec.types[i] < 0 || spec.types[i] > 6)
      return makeError(what, ": \"types\"[", i, "] is ", spec.types[i],
                       ", not a GGUF token type (0..6)");
  for (size_t i = 0; i < spec.scores.size(); ++i)
    if (std::isnan(spec.scores[i]))
      return makeError(what, ": \"scores\"[", i, "] is NaN");
  size_t vocab = tokenizerSpecVocabSize(spec);
  auto checkId = [&](const char *key, int32_t id) -> Status {
    if (id < -1 || (id >= 0 && size_t(id) >= vocab))
      return makeError(what, ": \"", key, "\" is ", id, ", outside [-1, ",
                       vocab, ") for a vocabulary of ", vocab, " tokens");
    return Status::success();
  };
  if (Status s = checkId("bos", spec.bosId); !s)
    return s;
  return checkId("eos", spec.eosId);
}

/// Little-endian reads from a bounded buffer.
uint32_t loadU32(const uint8_t *p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
         uint32_t(p[3]) << 24;
}
int32_t loadI32(const uint8_t *p) {
  uint32_t u = loadU32(p);
  int32_t i;
  std::memcpy(&i, &u, sizeof(i));
  return i;
}
float loadF32(const uint8_t *p) {
  uint32_t u = loadU32(p);
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

Expected<TokenizerSpec> parseLlama2cTokenizer(const std::string &what,
                                              const uint8_t *data, size_t size,
                                              int32_t vocabSize) {
  if (vocabSize <= 0)
    return makeError(what, ": the vocabulary size must be positive, got ",
                     vocabSize);
  if (!data && size != 0)
    return makeError(what, ": no data");
  if (size < 4)
    return makeError(what,
                     ": truncated at offset 0: max_token_length needs "
                     "4 bytes, the file has ",
                     size);
  int32_t maxTokenLength = loadI32(data);
  if (maxTokenLength <= 0)
    return makeError(what,
                     ": max_token_length at offset 0 must be positive, "
                     "got ",
                     maxTokenLength);
  TokenizerSpec spec;
  spec.model = "llama";
  spec.bosId = 1;
  spec.eosId = 2;
  // Every token takes at least 8 bytes: don't let a huge vocabSize reserve
  // memory the file cannot back.
  size_t reserve = std::min<size_t>(size_t(vocabSize), size / 8);
  spec.tokens.reserve(reserve);
  spec.scores.reserve(reserve);
  spec.types.reserve(reserve);
  size_t offset = 4;
  for (int32_t id = 0; id < vocabSize; ++id) {
    size_t left = size - offset;
    if (left < 8) {
      if (left == 0)
        return makeError(what, ": truncated at offset ", offset,
                         ": the file ends after ", id,
                         " tokens but the vocabulary size is ", vocabSize);
      return makeError(what, ": truncated at offset ", offset, " in token ", id,
                       " of ", vocabSize, ": score and length need 8 bytes, ",
                       left, " left");
    }
    float score = loadF32(data + offset);
    int32_t length = loadI32(data + offset + 4);
    if (std::isnan(score))
      return makeError(what, ": token ", id, " at offset ", offset,
                       " has a NaN score");
    if (length < 0)
      return makeError(what, ": token ", id, " at offset ", offset,
                       " has a negative length ", length);
    if (length > maxTokenLength)
      return makeError(what, ": token ", id, " at offset ", offset,
                       " has length ", length, " > max_token_length ",
                       maxTokenLength);
    offset += 8;
    if (size_t(length) > size - offset)
      return makeError(what, ": truncated at offset ", offset, " in token ", id,
                       " of ", vocabSize, ": its ", length,
                       " bytes run past the end (", size - offset, " left)");
    std::string piece(reinterpret_cast<const char *>(data + offset),
                      size_t(length));
    offset += size_t(length);
    TokenKind kind = TokenKind::Normal;
    if (bytePieceValue(piece) >= 0)
      kind = TokenKind::Byte;
    else if (piece == "<unk>")
      kind = TokenKind::Unknown;
    else if (id == spec.bosId || id == spec.eosId || piece == "<s>" ||
             piece == "</s>")
      kind = TokenKind::Control;
    spec.tokens.push_back(std::move(piece));
    spec.scores.push_back(score);
    spec.types.push_back(int32_t(kind));
  }
  if (offset != size)
    return makeError(what, ": ", size - offset, " bytes left at offset ",
                     offset, " after ", vocabSize,
                     " tokens: the file holds more tokens than the "
                     "vocabulary size says (wrong vocabulary size?)");
  if (Status s = checkSpec(spec, what.c_str()); !s)
    return s;
  return spec;
}

} // namespace

//===----------------------------------------------------------------------===//
// TokenizerSpec
//===----------------------------------------------------------------------===//

size_t mixq::runtime::tokenizerSpecVocabSize(const TokenizerSpec &spec) {
  size_t n = spec.tokens.size();
  if (spec.model != "byte")
    return n;
  n = std::max<size_t>(n, 256);
  if (spec.bosId >= 0)
    n = std::max(n, size_t(spec.bosId) + 1);
  if (spec.eosId >= 0)
    n = std::max(n, size_t(spec.eosId) + 1);
  return n;
}

nlohmann::json mixq::runtime::tokenizerSpecToJson(const TokenizerSpec &spec) {
  nlohmann::json tokens = nlohmann::json::array();
  for (const std::string &token : spec.tokens) {
    if (firstInvalidUtf8(token) == std::string_view::npos)
      tokens.push_back(token);
    else
      tokens.push_back({{"hex", toHex(token)}});
  }
  nlohmann::json json = nlohmann::json::object();
  json["model"] = spec.model;
  json["tokens"] = std::move(tokens);
  json["scores"] = spec.scores;
  json["types"] = spec.types;
  json["bos"] = spec.bosId;
  json["eos"] = spec.eosId;
  return json;
}

namespace {
/// An integer JSON value that fits int64, or an error naming `key`.
Expected<int64_t> jsonInteger(const nlohmann::json &value,
                              const std::string &key) {
  if (value.is_number_unsigned()) {
    uint64_t u = value.get<uint64_t>();
    if (u > uint64_t(std::numeric_limits<int64_t>::max()))
      return makeError("tokenizer: ", key, " is ", u, ", out of range");
    return int64_t(u);
  }
  if (value.is_number_integer())
    return value.get<int64_t>();
  return makeError("tokenizer: ", key, " must be an integer, got ",
                   value.type_name());
}
} // namespace

Expected<TokenizerSpec>
mixq::runtime::tokenizerSpecFromJson(const nlohmann::json &json) {
  if (!json.is_object())
    return makeError("tokenizer: expected a JSON object, got ",
                     json.type_name());
  TokenizerSpec spec;
  auto model = json.find("model");
  if (model == json.end())
    return makeError("tokenizer: the key \"model\" is missing");
  if (!model->is_string())
    return makeError("tokenizer: \"model\" must be a string, got ",
                     model->type_name());
  spec.model = model->get<std::string>();

  auto tokens = json.find("tokens");
  if (tokens == json.end())
    return makeError("tokenizer: the key \"tokens\" is missing");
  if (!tokens->is_array())
    return makeError("tokenizer: \"tokens\" must be an array, got ",
                     tokens->type_name());
  spec.tokens.reserve(tokens->size());
  for (size_t i = 0; i < tokens->size(); ++i) {
    const nlohmann::json &token = (*tokens)[i];
    if (token.is_string()) {
      spec.tokens.push_back(token.get<std::string>());
      continue;
    }
    auto hex = token.is_object() && token.size() == 1 ? token.find("hex")
                                                      : token.end();
    if (hex == token.end() || !hex->is_string())
      return makeError("tokenizer: \"tokens\"[", i,
                       "] must be a string or {\"hex\": string}, got ",
                       token.type_name());
    const std::string &digits = hex->get_ref<const std::string &>();
    std::string bytes;
    bool good = digits.size() % 2 == 0;
    for (size_t k = 0; good && k < digits.size(); k += 2) {
      int hi = hexDigit(digits[k]), lo = hexDigit(digits[k + 1]);
      good = hi >= 0 && lo >= 0;
      bytes.push_back(char(hi * 16 + lo));
    }
    if (!good)
      return makeError("tokenizer: \"tokens\"[", i,
                       "].hex is not an even number of hex digits");
    spec.tokens.push_back(std::move(bytes));
  }

  if (auto scores = json.find("scores"); scores != json.end()) {
    if (!scores->is_array())
      return makeError("tokenizer: \"scores\" must be an array, got ",
                       scores->type_name());
    spec.scores.reserve(scores->size());
    for (size_t i = 0; i < scores->size(); ++i) {
      const nlohmann::json &score = (*scores)[i];
      if (!score.is_number())
        return makeError("tokenizer: \"scores\"[", i,
                         "] must be a number, got ", score.type_name());
      double d = score.get<double>();
      float f = float(d);
      if (!std::isfinite(d) || !std::isfinite(f))
        return makeError("tokenizer: \"scores\"[", i, "] = ", d,
                         " is not a finite float");
      spec.scores.push_back(f);
    }
  }
  if (auto types = json.find("types"); types != json.end()) {
    if (!types->is_array())
      return makeError("tokenizer: \"types\" must be an array, got ",
                       types->type_name());
    spec.types.reserve(types->size());
    for (size_t i = 0; i < types->size(); ++i) {
      std::string key = "\"types\"[" + std::to_string(i) + "]";
      Expected<int64_t> type = jsonInteger((*types)[i], key);
      if (!type)
        return type.status();
      if (*type < 0 || *type > 6)
        return makeError("tokenizer: ", key, " is ", *type,
                         ", not a GGUF token type (0..6)");
      spec.types.push_back(int32_t(*type));
    }
  }
  for (const char *key : {"bos", "eos"}) {
    auto it = json.find(key);
    if (it == json.end())
      continue;
    std::string quoted = std::string("\"") + key + "\"";
    Expected<int64_t> id = jsonInteger(*it, quoted);
    if (!id)
      return id.status();
    if (*id < -1 || *id > std::numeric_limits<int32_t>::max())
      return makeError("tokenizer: ", quoted, " is ", *id, ", out of range");
    (key[0] == 'b' ? spec.bosId : spec.eosId) = int32_t(*id);
  }
  if (Status s = checkSpec(spec, "tokenizer"); !s)
    return s;
  return spec;
}

Expected<TokenizerSpec> mixq::runtime::loadLlama2cTokenizer(const uint8_t *data,
                                                            size_t size,
                                                            int32_t vocabSize) {
  return parseLlama2cTokenizer("tokenizer.bin", data, size, vocabSize);
}

Expected<TokenizerSpec>
mixq::runtime::loadLlama2cTokenizer(const std::string &path,
                                    int32_t vocabSize) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return makeError(path,
                     ": cannot open the tokenizer: ", std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    return makeError(path, ": not a regular file");
  if (uint64_t(st.st_size) > kMaxTokenizerFileSize)
    return makeError(path, ": ", uint64_t(st.st_size),
                     " bytes is too large for a llama2.c tokenizer "
                     "(wrong file?)");
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file)
    return makeError(path,
                     ": cannot open the tokenizer: ", std::strerror(errno));
  std::vector<uint8_t> bytes(size_t(st.st_size));
  size_t got =
      bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), file);
  bool readError = std::ferror(file) != 0;
  std::fclose(file);
  if (readError || got != bytes.size())
    return makeError(path, ": read ", got, " of ", bytes.size(), " bytes");
  return parseLlama2cTokenizer(path, bytes.data(), bytes.size(), vocabSize);
}

//===----------------------------------------------------------------------===//
// Tokenizer
//===----------------------------------------------------------------------===//

struct Tokenizer::Impl {
  std::string model;
  bool byteModel = false;
  size_t vocab = 0;
  int32_t bos = -1, eos = -1, unk = -1;
  /// Pieces with U+2581 spelled ' ', their scores and kinds.
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<TokenKind> kinds;
  /// The byte a byte token stands for, -1 for other tokens.
  std::vector<int16_t> byteOf;
  /// The (first) "<0xXX>" token of each byte, -1 where there is none.
  std::array<int32_t, 256> byteToken;
  /// Normal and user-defined pieces -> (first) id; views into `pieces`,
  /// which never changes once the map is built.
  std::unordered_map<std::string_view, int32_t> encodable;
};

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl)
    : impl_(std::move(impl)) {}

Expected<Tokenizer> Tokenizer::create(TokenizerSpec spec) {
  if (!isSupportedModel(spec.model))
    return makeError("tokenizer: model \"", spec.model,
                     "\" is not supported by the runtime (supported: "
                     "\"llama\", \"byte\")");
  if (spec.model == "llama" && spec.tokens.empty())
    return makeError("tokenizer: a \"llama\" tokenizer needs tokens; "
                     "\"tokens\" is empty");
  if (spec.tokens.size() > size_t(std::numeric_limits<int32_t>::max()))
    return makeError("tokenizer: ", spec.tokens.size(),
                     " tokens do not fit int32 ids");
  if (Status s = checkSpec(spec, "tokenizer"); !s)
    return s;

  auto impl = std::make_shared<Impl>();
  impl->model = spec.model;
  impl->byteModel = spec.model == "byte";
  impl->vocab = tokenizerSpecVocabSize(spec);
  impl->bos = spec.bosId;
  impl->eos = spec.eosId;
  impl->byteToken.fill(-1);
  size_t n = spec.tokens.size();
  impl->pieces.reserve(n);
  impl->kinds.reserve(n);
  impl->byteOf.assign(n, -1);
  impl->scores = spec.scores.empty() ? std::vector<float>(n, 0.0f)
                                     : std::move(spec.scores);
  for (size_t i = 0; i < n; ++i) {
    const std::string &token = spec.tokens[i];
    TokenKind kind;
    if (!spec.types.empty()) {
      kind = TokenKind(spec.types[i]);
      if (kind == TokenKind::Undefined)
        kind = TokenKind::Normal;
    } else if (bytePieceValue(token) >= 0) {
      kind = TokenKind::Byte;
    } else if (int32_t(i) == spec.bosId || int32_t(i) == spec.eosId) {
      kind = TokenKind::Control;
    } else if (token == "<unk>") {
      kind = TokenKind::Unknown;
    } else {
      kind = TokenKind::Normal;
    }
    if (kind == TokenKind::Byte) {
      int value = bytePieceValue(token);
      if (value >= 0) {
        impl->byteOf[i] = int16_t(value);
        if (impl->byteToken[size_t(value)] < 0)
          impl->byteToken[size_t(value)] = int32_t(i);
      }
    }
    if (kind == TokenKind::Unknown && impl->unk < 0)
      impl->unk = int32_t(i);
    impl->kinds.push_back(kind);
    impl->pieces.push_back(normalizeSpaces(token));
  }
  impl->encodable.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    TokenKind kind = impl->kinds[i];
    if ((kind == TokenKind::Normal || kind == TokenKind::UserDefined) &&
        !impl->pieces[i].empty())
      impl->encodable.emplace(std::string_view(impl->pieces[i]), int32_t(i));
  }
  return Tokenizer(std::move(impl));
}

int32_t Tokenizer::bos() const { return impl_->bos; }
int32_t Tokenizer::eos() const { return impl_->eos; }
size_t Tokenizer::vocabSize() const { return impl_->vocab; }
const std::string &Tokenizer::model() const { return impl_->model; }

namespace {
/// One symbol of the BPE working list: bytes [start, start + length) of the
/// (dummy-prefixed) text, currently token `id`.
struct Symbol {
  int32_t prev, next;
  uint32_t start, length;
  int32_t id;
  uint32_t version; ///< bumped on every merge into this symbol
  bool mergeable;   ///< false for byte-fallback symbols
  bool alive;
};

/// A candidate merge of symbols `left` and its successor `right`.
struct Candidate {
  float score;
  int32_t left, right;
  uint32_t leftVersion, rightVersion;
  int32_t id;
};

/// Heap order: the highest score first; on ties the leftmost (symbols are
/// numbered in text order and a merge keeps the left one's number).
struct CandidateLess {
  bool operator()(const Candidate &a, const Candidate &b) const {
    if (a.score != b.score)
      return a.score < b.score;
    return a.left > b.left;
  }
};
} // namespace

Expected<std::vector<int32_t>> Tokenizer::encode(std::string_view text,
                                                 bool addBos) const {
  const Impl &t = *impl_;
  if (size_t bad = firstInvalidUtf8(text); bad != std::string_view::npos)
    return makeError("encode: the text is not valid UTF-8 at byte ", bad,
                     " (0x", hexByte(uint8_t(text[bad])), ")");
  if (text.size() >= size_t(std::numeric_limits<int32_t>::max()))
    return makeError("encode: the text is too long (", text.size(), " bytes)");
  std::vector<int32_t> out;
  if (addBos && t.bos >= 0)
    out.push_back(t.bos);
  if (t.byteModel) {
    out.reserve(out.size() + text.size());
    for (char c : text)
      out.push_back(int32_t(uint8_t(c)));
    return out;
  }
  if (text.empty())
    return out;

  std::string work;
  work.reserve(text.size() + 1);
  work.push_back(' '); // SentencePiece's dummy prefix
  work.append(text);
  std::string_view view(work);

  std::vector<Symbol> symbols;
  symbols.reserve(work.size());
  auto addSymbol = [&](size_t start, size_t length, int32_t id,
                       bool mergeable) {
    int32_t index = int32_t(symbols.size());
    symbols.push_back(Symbol{index - 1, -1, uint32_t(start), uint32_t(length),
                             id, 0, mergeable, true});
    if (index > 0)
      symbols[size_t(index) - 1].next = index;
  };
  for (size_t i = 0; i < work.size();) {
    size_t length = utf8SequenceLength(view, i);
    auto it = t.encodable.find(view.substr(i, length));
    if (it != t.encodable.end()) {
      addSymbol(i, length, it->second, true);
    } else {
      for (size_t k = 0; k < length; ++k) {
        uint8_t b = uint8_t(work[i + k]);
        int32_t id = t.byteToken[b] >= 0 ? t.byteToken[b] : t.unk;
        if (id < 0)
          return makeError("encode: byte 0x", hexByte(b),
                           i + k == 0
                               ? std::string(" (the dummy-prefix space)")
                               : " at offset " + std::to_string(i + k - 1) +
                                     " of the text",
                           " is not in the vocabulary, which has neither a <0x",
                           hexByte(b), "> token nor an unknown token");
        addSymbol(i + k, 1, id, false);
      }
    }
    i += length;
  }

  std::priority_queue<Candidate, std::vector<Candidate>, CandidateLess> heap;
  auto consider = [&](int32_t left) {
    if (left < 0)
      return;
    const Symbol &l = symbols[size_t(left)];
    if (l.next < 0)
      return;
    const Symbol &r = symbols[size_t(l.next)];
    if (!l.mergeable || !r.mergeable)
      return;
    auto it = t.encodable.find(view.substr(l.start, l.length + r.length));
    if (it == t.encodable.end())
      return;
    heap.push(Candidate{t.scores[size_t(it->second)], left, l.next, l.version,
                        r.version, it->second});
  };
  for (int32_t i = 0; i + 1 < int32_t(symbols.size()); ++i)
    consider(i);
  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    Symbol &l = symbols[size_t(c.left)];
    Symbol &r = symbols[size_t(c.right)];
    if (!l.alive || !r.alive || l.next != c.right ||
        l.version != c.leftVersion || r.version != c.rightVersion)
      continue; // stale
    l.length += r.length;
    l.id = c.id;
    ++l.version;
    r.alive = false;
    l.next = r.next;
    if (r.next >= 0)
      symbols[size_t(r.next)].prev = c.left;
    consider(l.prev);
    consider(c.left);
  }
  for (int32_t i = 0; i >= 0; i = symbols[size_t(i)].next)
    out.push_back(symbols[size_t(i)].id);
  return out;
}

Expected<std::string> Tokenizer::decode(int32_t previous, int32_t id) const {
  const Impl &t = *impl_;
  if (id < 0 || size_t(id) >= t.vocab)
    return makeError("decode: token id ", id,
                     " is out of range for a vocabulary of ", t.vocab,
                     " tokens");
  size_t index = size_t(id);
  if (t.byteModel) {
    if (id == t.bos || id == t.eos)
      return std::string();
    if (id < 256)
      return std::string(1, char(uint8_t(id)));
    if (index >= t.pieces.size())
      return std::string();
  }
  TokenKind kind = t.kinds[index];
  if (kind == TokenKind::Control || kind == TokenKind::Unused)
    return std::string();
  if (t.byteOf[index] >= 0)
    return std::string(1, char(uint8_t(t.byteOf[index])));
  const std::string &piece = t.pieces[index];
  if (t.bos >= 0 && previous == t.bos && !piece.empty() && piece[0] == ' ')
    return piece.substr(1);
  return piece;
}

//===----------------------------------------------------------------------===//
// TextStreamer
//===----------------------------------------------------------------------===//

std::string TextStreamer::push(const std::string &piece) {
  pending_ += piece;
  size_t n = pending_.size();
  // Find the lead byte of the last (possibly incomplete) sequence.
  size_t continuation = 0;
  while (continuation < 3 && continuation < n &&
         (uint8_t(pending_[n - 1 - continuation]) & 0xC0) == 0x80)
    ++continuation;
  size_t holdFrom = n;
  if (continuation < n) {
    size_t start = n - 1 - continuation;
    uint8_t lead = uint8_t(pending_[start]);
    size_t need = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      need = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      need = 3;
      lo = lead == 0xE0 ? 0xA0 : 0x80;
      hi = lead == 0xED ? 0x9F : 0xBF;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      need = 4;
      lo = lead == 0xF0 ? 0x90 : 0x80;
      hi = lead == 0xF4 ? 0x8F : 0xBF;
    }
    bool validPrefix =
        continuation == 0 || (uint8_t(pending_[start + 1]) >= lo &&
                              uint8_t(pending_[start + 1]) <= hi);
    if (need > continuation + 1 && validPrefix)
      holdFrom = start;
  }
  std::string ready = pending_.substr(0, holdFrom);
  pending_.erase(0, holdFrom);
  return ready;
}

std::string TextStreamer::flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;
}

Expected<std::optional<mixq::runtime::Tokenizer>>
mixq::runtime::tokenizerFromManifest(const nlohmann::json &manifest) {
  const nlohmann::json &data =
      manifest.is_object() ? manifest.value("tokenizer", nlohmann::json())
                           : nlohmann::json();
  if (data.is_null())
    return std::optional<Tokenizer>();
  auto spec = tokenizerSpecFromJson(data);
  if (!spec)
    return spec.status();
  auto tokenizer = Tokenizer::create(spec.take());
  if (!tokenizer)
    return tokenizer.status();
  return std::optional<Tokenizer>(tokenizer.take());
}
