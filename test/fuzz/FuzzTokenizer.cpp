//===- FuzzTokenizer.cpp - libFuzzer target: llama2.c tokenizer.bin -------===//
//
// The input is a tokenizer.bin (int32 max_token_length, then per token
// float32 score, int32 length, bytes). The target counts the whole token
// records the input holds, loads it with that vocabulary size and with
// wrong ones (which must fail cleanly, without allocating for a huge
// vocabulary), and, when a tokenizer builds from it, encodes the input's
// last bytes as text and decodes the ids again. Invariants: a loaded spec
// has one score and type per token; encode() yields ids inside the
// vocabulary that decode() accepts; the spec survives the manifest's JSON
// form. A broken invariant traps, so libFuzzer reports the input.
//===----------------------------------------------------------------------===//

#include "runtime/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

using namespace mixq;
using namespace mixq::runtime;

namespace {

void check(bool condition) {
  if (!condition)
    __builtin_trap();
}

/// The number of whole token records after the 4-byte header.
int32_t countRecords(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  size_t offset = 4;
  int32_t count = 0;
  while (size - offset >= 8 && count < std::numeric_limits<int32_t>::max()) {
    int32_t length;
    std::memcpy(&length, data + offset + 4, 4);
    if (length < 0 || size_t(length) > size - offset - 8)
      break;
    offset += 8 + size_t(length);
    ++count;
  }
  return count;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int32_t records = countRecords(data, size);
  // Wrong vocabulary sizes fail cleanly (and must not reserve memory for
  // two billion tokens).
  for (int32_t wrong : {0, -1, std::numeric_limits<int32_t>::max()}) {
    auto spec = loadLlama2cTokenizer(data, size, wrong);
    check(!spec.ok() || (wrong > 0 && size_t(wrong) <= size / 8));
  }
  if (records < std::numeric_limits<int32_t>::max())
    check(!loadLlama2cTokenizer(data, size, records + 1).ok());
  if (records == 0)
    return 0;

  auto spec = loadLlama2cTokenizer(data, size, records);
  if (!spec) {
    check(!spec.message().empty());
    return 0;
  }
  check(spec->tokens.size() == size_t(records));
  check(spec->scores.size() == spec->tokens.size());
  check(spec->types.size() == spec->tokens.size());
  check(spec->model == "llama");

  // The manifest's JSON form round-trips. Only for finite scores: the
  // loader accepts +-inf (it rejects only NaN) but JSON has no infinity and
  // tokenizerSpecFromJson() requires finite floats.
  bool finite = std::all_of(spec->scores.begin(), spec->scores.end(),
                            [](float f) { return std::isfinite(f); });
  if (finite) {
    auto again = tokenizerSpecFromJson(tokenizerSpecToJson(*spec));
    check(again.ok());
    check(again->tokens == spec->tokens && again->types == spec->types &&
          again->bosId == spec->bosId && again->eosId == spec->eosId &&
          again->scores == spec->scores);
  }

  auto tokenizer = Tokenizer::create(*spec);
  if (!tokenizer)
    return 0;
  int32_t vocab = int32_t(tokenizer->vocabSize());
  check(vocab == records);
  // Texts: the input's last bytes, and the last pieces run together (which
  // merge back into pieces).
  size_t tailSize = std::min<size_t>(size, 64);
  std::string tail(reinterpret_cast<const char *>(data + size - tailSize),
                   tailSize);
  std::string pieces;
  for (size_t i = spec->tokens.size(); i-- > 0 && pieces.size() < 64;)
    pieces.insert(0, spec->tokens[i]);
  for (int variant = 0; variant < 4; ++variant) {
    const std::string &text = variant < 2 ? tail : pieces;
    bool addBos = variant % 2 == 1;
    auto ids = tokenizer->encode(text, addBos);
    if (!ids)
      continue;
    TextStreamer streamer;
    int32_t previous = tokenizer->bos();
    for (int32_t id : *ids) {
      check(id >= 0 && id < vocab);
      auto piece = tokenizer->decode(previous, id);
      check(piece.ok());
      (void)streamer.push(*piece);
      previous = id;
    }
    (void)streamer.flush();
  }
  check(!tokenizer->decode(0, vocab).ok());
  check(!tokenizer->decode(0, -1).ok());
  return 0;
}
