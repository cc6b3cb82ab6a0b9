//===- TokenizerTest.cpp - runtime/Tokenizer ------------------------------===//
//
// Expected token ids come from outside the code under test: the Llama 2
// vectors are llama2.c's own reference tests (test_all.py / test.c), the
// tiny-vocabulary merges are worked out by hand in the comments, and byte
// token ids are looked up by name in the vocabulary file.
//===----------------------------------------------------------------------===//

#include "runtime/Tokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>

using namespace mixq;
using namespace mixq::runtime;

namespace {

const std::string kLlamaTokenizerPath =
    std::string(MIXQ_SHARED_MODELS_DIR) + "/llama2-tokenizer.bin";

bool fileExists(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return bool(in);
}

/// The Llama 2 vocabulary, loaded once; nullptr when the file is missing.
struct Llama {
  TokenizerSpec spec;
  std::optional<Tokenizer> tokenizer;
};
const Llama *llama() {
  static const std::optional<Llama> loaded = []() -> std::optional<Llama> {
    if (!fileExists(kLlamaTokenizerPath))
      return std::nullopt;
    Expected<TokenizerSpec> spec =
        loadLlama2cTokenizer(kLlamaTokenizerPath, 32000);
    EXPECT_TRUE(spec.ok()) << spec.message();
    if (!spec)
      return std::nullopt;
    Expected<Tokenizer> tokenizer = Tokenizer::create(*spec);
    EXPECT_TRUE(tokenizer.ok()) << tokenizer.message();
    if (!tokenizer)
      return std::nullopt;
    Llama l;
    l.spec = *spec;
    l.tokenizer = tokenizer.take();
    return l;
  }();
  return loaded ? &*loaded : nullptr;
}

#define REQUIRE_LLAMA()                                                        \
  const Llama *L = llama();                                                    \
  if (!L)                                                                      \
    GTEST_SKIP() << kLlamaTokenizerPath                                        \
                 << " is missing (see ../shared/models/README.md)";            \
  const Tokenizer &tok = *L->tokenizer

int32_t idOf(const TokenizerSpec &spec, const std::string &piece) {
  auto it = std::find(spec.tokens.begin(), spec.tokens.end(), piece);
  return it == spec.tokens.end() ? -1 : int32_t(it - spec.tokens.begin());
}

std::vector<int32_t> encodeOk(const Tokenizer &tok, std::string_view text,
                              bool bos) {
  Expected<std::vector<int32_t>> ids = tok.encode(text, bos);
  EXPECT_TRUE(ids.ok()) << ids.message();
  return ids ? *ids : std::vector<int32_t>{};
}

/// Decodes ids[1..] after ids[0] (which is BOS) the way a generation loop
/// prints them.
std::string decodeAfterBos(const Tokenizer &tok,
                           const std::vector<int32_t> &ids) {
  std::string text;
  for (size_t i = 1; i < ids.size(); ++i) {
    Expected<std::string> piece = tok.decode(ids[i - 1], ids[i]);
    EXPECT_TRUE(piece.ok()) << piece.message();
    if (piece)
      text += *piece;
  }
  return text;
}

::testing::AssertionResult failsWith(const Status &status,
                                     const std::vector<std::string> &parts) {
  if (status.ok())
    return ::testing::AssertionFailure() << "succeeded unexpectedly";
  for (const std::string &part : parts)
    if (status.message().find(part) == std::string::npos)
      return ::testing::AssertionFailure() << "message \"" << status.message()
                                           << "\" lacks \"" << part << "\"";
  return ::testing::AssertionSuccess();
}
template <typename T>
::testing::AssertionResult failsWith(const Expected<T> &value,
                                     const std::vector<std::string> &parts) {
  if (value.ok())
    return ::testing::AssertionFailure() << "succeeded unexpectedly";
  return failsWith(value.status(), parts);
}

} // namespace

//===----------------------------------------------------------------------===//
// Llama 2 vocabulary (llama2.c's tokenizer.bin)
//===----------------------------------------------------------------------===//

TEST(TokenizerLlama2, LoadsTheVocabulary) {
  REQUIRE_LLAMA();
  EXPECT_EQ(tok.vocabSize(), 32000u);
  EXPECT_EQ(tok.bos(), 1);
  EXPECT_EQ(tok.eos(), 2);
  EXPECT_EQ(tok.model(), "llama");
  ASSERT_EQ(L->spec.tokens.size(), 32000u);
  EXPECT_EQ(L->spec.tokens[0], "<unk>");
  EXPECT_EQ(L->spec.types[0], int32_t(TokenKind::Unknown));
  EXPECT_EQ(L->spec.types[1], int32_t(TokenKind::Control));
  EXPECT_EQ(L->spec.types[2], int32_t(TokenKind::Control));
  // The byte tokens are ids 3..258, "<0x00>".."<0xFF>".
  EXPECT_EQ(L->spec.tokens[3], "<0x00>");
  EXPECT_EQ(L->spec.tokens[258], "<0xFF>");
  EXPECT_EQ(idOf(L->spec, "<0x0A>"), 13);
  for (int id = 3; id <= 258; ++id)
    EXPECT_EQ(L->spec.types[size_t(id)], int32_t(TokenKind::Byte)) << id;
  EXPECT_EQ(L->spec.types[259], int32_t(TokenKind::Normal));
}

TEST(TokenizerLlama2, ReferencePrompts) {
  REQUIRE_LLAMA();
  // llama2.c's reference tests.
  EXPECT_EQ(encodeOk(tok, "I believe the meaning of life is", true),
            (std::vector<int32_t>{1, 306, 4658, 278, 6593, 310, 2834, 338}));
  EXPECT_EQ(
      encodeOk(tok, "Simply put, the theory of relativity states that ", true),
      (std::vector<int32_t>{1, 3439, 17632, 1925, 29892, 278, 6368, 310, 14215,
                            537, 5922, 393, 29871}));
  EXPECT_EQ(
      encodeOk(tok,
               "A brief message congratulating the team on the launch:\n\n"
               "        Hi everyone,\n\n        I just ",
               true),
      (std::vector<int32_t>{1,     319,  11473, 2643, 378,   629,   271,
                            18099, 278,  3815,  373,  278,   6826,  29901,
                            13,    13,   4706,  6324, 14332, 29892, 13,
                            13,    4706, 306,   925,  29871}));
  EXPECT_EQ(
      encodeOk(tok,
               "Translate English to French:\n\n"
               "        sea otter => loutre de mer\n"
               "        peppermint => menthe poivr\xC3\xA9"
               "e\n"
               "        plush girafe => girafe peluche\n"
               "        cheese =>",
               true),
      (std::vector<int32_t>{
          1,     4103, 9632, 4223, 304,   5176, 29901, 13,   13,   4706,
          7205,  4932, 357,  1149, 301,   449,  276,   316,  2778, 13,
          4706,  1236, 407,  837,  524,   1149, 6042,  354,  772,  440,
          29878, 1318, 13,   4706, 715,   1878, 330,   3055, 1725, 1149,
          330,   3055, 1725, 4639, 28754, 13,   4706,  923,  968,  1149}));
}

TEST(TokenizerLlama2, HelloWorld) {
  REQUIRE_LLAMA();
  EXPECT_EQ(L->spec.tokens[15043], " Hello");
  EXPECT_EQ(L->spec.tokens[3186], " world");
  EXPECT_EQ(encodeOk(tok, "Hello world", true),
            (std::vector<int32_t>{1, 15043, 3186}));
  EXPECT_EQ(encodeOk(tok, "Hello world", false),
            (std::vector<int32_t>{15043, 3186}));
  EXPECT_EQ(encodeOk(tok, "", true), (std::vector<int32_t>{1}));
  EXPECT_EQ(encodeOk(tok, "", false), (std::vector<int32_t>{}));
}

TEST(TokenizerLlama2, ByteFallback) {
  REQUIRE_LLAMA();
  // "\n" is not a piece: it becomes <0x0A> (id 13); " a" and "b" are.
  int32_t newline = idOf(L->spec, "<0x0A>");
  ASSERT_EQ(newline, 13);
  ASSERT_EQ(idOf(L->spec, "\n"), -1);
  ASSERT_EQ(idOf(L->spec, " a"), 263);
  ASSERT_EQ(idOf(L->spec, "b"), 29890);
  EXPECT_EQ(encodeOk(tok, "a\nb", true),
            (std::vector<int32_t>{1, 263, newline, 29890}));

  // U+1F999 (llama, F0 9F A6 99) is not in the vocabulary: the dummy-prefix
  // space stays alone (" " = 29871) and the character goes out as its four
  // byte tokens, found by name.
  const std::string llamaEmoji = "\xF0\x9F\xA6\x99";
  ASSERT_EQ(idOf(L->spec, llamaEmoji), -1);
  ASSERT_EQ(idOf(L->spec, " " + llamaEmoji), -1);
  ASSERT_EQ(idOf(L->spec, " "), 29871);
  std::vector<int32_t> expected = {1,
                                   29871,
                                   idOf(L->spec, "<0xF0>"),
                                   idOf(L->spec, "<0x9F>"),
                                   idOf(L->spec, "<0xA6>"),
                                   idOf(L->spec, "<0x99>")};
  EXPECT_EQ(expected, (std::vector<int32_t>{1, 29871, 3 + 0xF0, 3 + 0x9F,
                                            3 + 0xA6, 3 + 0x99}));
  EXPECT_EQ(encodeOk(tok, llamaEmoji, true), expected);
}

TEST(TokenizerLlama2, Decode) {
  REQUIRE_LLAMA();
  EXPECT_EQ(*tok.decode(1, 13), "\n");
  EXPECT_EQ(*tok.decode(500, 13), "\n");
  EXPECT_EQ(*tok.decode(1, 3 + 0xF0), "\xF0");
  // After BOS the leading space is stripped, elsewhere it is kept.
  EXPECT_EQ(*tok.decode(1, 15043), "Hello");
  EXPECT_EQ(*tok.decode(15043, 3186), " world");
  EXPECT_EQ(*tok.decode(1, 3186), "world");
  // Control tokens print nothing; <unk> prints its piece.
  EXPECT_EQ(*tok.decode(0, 1), "");
  EXPECT_EQ(*tok.decode(15043, 2), "");
  EXPECT_EQ(*tok.decode(15043, 0), "<unk>");
  // Out of range.
  EXPECT_TRUE(
      failsWith(tok.decode(1, 32000), {"32000", "vocabulary of 32000"}));
  EXPECT_TRUE(failsWith(tok.decode(1, -1), {"-1", "32000"}));
}

TEST(TokenizerLlama2, RoundTrip) {
  REQUIRE_LLAMA();
  const std::vector<std::string> texts = {
      "Hello world",
      "h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93", // héllo wörld ✓
      "a\nb\tc  d\r\n",
      "  two leading spaces and a trailing one ",
      "\xF0\x9F\xA6\x99 llamas \xF0\x9F\xA6\x99!",
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", // 日本語
      "x",
      "<s> is not BOS and <0x41> is not A",
  };
  for (const std::string &text : texts) {
    std::vector<int32_t> ids = encodeOk(tok, text, true);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids[0], 1);
    for (size_t i = 1; i < ids.size(); ++i) {
      EXPECT_NE(ids[i], 1) << text;
      EXPECT_NE(ids[i], 2) << text;
    }
    EXPECT_EQ(decodeAfterBos(tok, ids), text);
  }
}

TEST(TokenizerLlama2, LongPrompt) {
  REQUIRE_LLAMA();
  // A few thousand words: must be fast (the test would time out with an
  // O(n^2 * vocab) encoder) and must round trip.
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "Once upon a time, in a land far away, there lived a llama "
            "named L\xC3\xA9o who loved \xE2\x9C\x93 marks. ";
  std::vector<int32_t> ids = encodeOk(tok, text, true);
  EXPECT_GT(ids.size(), 1000u);
  EXPECT_EQ(decodeAfterBos(tok, ids), text);
}

TEST(TokenizerLlama2, InvalidUtf8IsAnError) {
  REQUIRE_LLAMA();
  EXPECT_TRUE(failsWith(tok.encode("ab\xFF", true), {"UTF-8", "byte 2"}));
  EXPECT_TRUE(failsWith(tok.encode("\xC3", true), {"UTF-8", "byte 0"}));
  EXPECT_TRUE(failsWith(tok.encode("x\xC0\xAF", true), {"UTF-8", "byte 1"}));
  EXPECT_TRUE(failsWith(tok.encode("\xED\xA0\x80", true), {"UTF-8"}));
  EXPECT_TRUE(failsWith(tok.encode("\xF4\x90\x80\x80", true), {"UTF-8"}));
  EXPECT_TRUE(failsWith(tok.encode("\x9C", true), {"UTF-8"}));
}

TEST(TokenizerLlama2, LoaderRejectsAWrongVocabularySize) {
  if (!fileExists(kLlamaTokenizerPath))
    GTEST_SKIP() << kLlamaTokenizerPath << " is missing";
  EXPECT_TRUE(failsWith(loadLlama2cTokenizer(kLlamaTokenizerPath, 31999),
                        {kLlamaTokenizerPath, "bytes left", "31999 tokens"}));
  EXPECT_TRUE(failsWith(loadLlama2cTokenizer(kLlamaTokenizerPath, 32001),
                        {kLlamaTokenizerPath, "after 32000 tokens", "32001"}));
}

//===----------------------------------------------------------------------===//
// A hand-built vocabulary
//===----------------------------------------------------------------------===//

namespace {
/// ids: 0 <unk>, 1 <s>, 2 </s>, 3 " ", 4 a, 5 b, 6 c, 7 ab, 8 bc, then
/// optional extras.
TokenizerSpec tinySpec(float ab, float bc) {
  TokenizerSpec spec;
  spec.model = "llama";
  spec.bosId = 1;
  spec.eosId = 2;
  auto add = [&](std::string piece, float score, TokenKind kind) {
    spec.tokens.push_back(std::move(piece));
    spec.scores.push_back(score);
    spec.types.push_back(int32_t(kind));
  };
  add("<unk>", 0, TokenKind::Unknown);
  add("<s>", 0, TokenKind::Control);
  add("</s>", 0, TokenKind::Control);
  add(" ", -100, TokenKind::Normal);
  add("a", -1, TokenKind::Normal);
  add("b", -1, TokenKind::Normal);
  add("c", -1, TokenKind::Normal);
  add("ab", ab, TokenKind::Normal);
  add("bc", bc, TokenKind::Normal);
  return spec;
}
void addPiece(TokenizerSpec &spec, std::string piece, float score,
              TokenKind kind = TokenKind::Normal) {
  spec.tokens.push_back(std::move(piece));
  spec.scores.push_back(score);
  spec.types.push_back(int32_t(kind));
}
Tokenizer make(TokenizerSpec spec) {
  Expected<Tokenizer> tok = Tokenizer::create(std::move(spec));
  EXPECT_TRUE(tok.ok()) << tok.message();
  return tok.take();
}
} // namespace

TEST(TokenizerTiny, HigherScoreMergesFirst) {
  // " abc" -> " ", a, b, c. " a" is not a piece.
  // ab = 1 < bc = 2: bc merges first, then nothing ("abc" is not a piece).
  EXPECT_EQ(encodeOk(make(tinySpec(1, 2)), "abc", false),
            (std::vector<int32_t>{3, 4, 8}));
  // ab = 2 > bc = 1: ab merges first.
  EXPECT_EQ(encodeOk(make(tinySpec(2, 1)), "abc", false),
            (std::vector<int32_t>{3, 7, 6}));
}

TEST(TokenizerTiny, TiesMergeLeftmostFirst) {
  // ab = bc: the leftmost pair (ab) wins.
  EXPECT_EQ(encodeOk(make(tinySpec(1, 1)), "abc", false),
            (std::vector<int32_t>{3, 7, 6}));
  // "bcab": pairs bc(1) ca(-) ab(1): bc first (leftmost), then ab.
  EXPECT_EQ(encodeOk(make(tinySpec(1, 1)), "bcab", true),
            (std::vector<int32_t>{1, 3, 8, 7}));
  // No scores at all: every piece scores 0, so merges go left to right:
  // " abc" -> ab first, then "abc" is not a piece.
  TokenizerSpec spec = tinySpec(5, 9);
  spec.scores.clear();
  EXPECT_EQ(encodeOk(make(spec), "abc", false),
            (std::vector<int32_t>{3, 7, 6}));
}

TEST(TokenizerTiny, MergesChainByScore) {
  // Add 9 "abc" (3) and 10 " a" (5).
  // " abc": candidates " a"(5), ab(1), bc(2) -> " a" first: [" a", b, c];
  // then bc(2) (" ab" is not a piece): [" a", bc]; " abc" is not a piece.
  TokenizerSpec spec = tinySpec(1, 2);
  addPiece(spec, "abc", 3);
  addPiece(spec, " a", 5);
  EXPECT_EQ(encodeOk(make(spec), "abc", false), (std::vector<int32_t>{10, 8}));
  // Without " a": bc(2) first -> [" ", a, bc] -> "abc"(3) -> [" ", abc].
  spec = tinySpec(1, 2);
  addPiece(spec, "abc", 3);
  EXPECT_EQ(encodeOk(make(spec), "abc", false), (std::vector<int32_t>{3, 9}));
  // "abcabc": bc, bc (leftmost first; equal scores), then abc, abc:
  // [" ", abc, abc].
  EXPECT_EQ(encodeOk(make(spec), "abcabc", false),
            (std::vector<int32_t>{3, 9, 9}));
  // A merge creates a better pair later: "cab" with "ca" (0) and "cab" (10):
  // pairs " c"(-), ca(0), ab(1): ab first -> [" ", c, ab]; "cab"(10) -> done.
  addPiece(spec, "ca", 0);   // 10
  addPiece(spec, "cab", 10); // 11
  EXPECT_EQ(encodeOk(make(spec), "cab", false), (std::vector<int32_t>{3, 11}));
}

TEST(TokenizerTiny, ByteFallbackAndUnknown) {
  TokenizerSpec spec = tinySpec(1, 2);
  addPiece(spec, "<0xC3>", 0, TokenKind::Byte); // 9
  addPiece(spec, "<0xA9>", 0, TokenKind::Byte); // 10
  // é (C3 A9) is not a piece: its bytes. "d" has no byte token: <unk>.
  Tokenizer tok = make(spec);
  EXPECT_EQ(encodeOk(tok,
                     "a\xC3\xA9"
                     "d",
                     false),
            (std::vector<int32_t>{3, 4, 9, 10, 0}));
  // The byte tokens decode to their bytes.
  EXPECT_EQ(*tok.decode(4, 9), "\xC3");
  EXPECT_EQ(*tok.decode(9, 10), "\xA9");
  // Byte tokens never merge, even where their pieces would spell one.
  addPiece(spec, "<0xC3><0xA9>", 100); // 11
  EXPECT_EQ(encodeOk(make(spec), "\xC3\xA9", false),
            (std::vector<int32_t>{3, 9, 10}));
  // Without <unk>, an unencodable byte is an error naming it.
  spec = tinySpec(1, 2);
  spec.types[0] = int32_t(TokenKind::Normal);
  EXPECT_TRUE(failsWith(make(spec).encode("abd", false),
                        {"0x64", "offset 2", "unknown token"}));
}

TEST(TokenizerTiny, ControlPiecesAreNotProducedFromText) {
  TokenizerSpec spec = tinySpec(1, 2);
  addPiece(spec, "<", 0);  // 9
  addPiece(spec, "s", 0);  // 10
  addPiece(spec, ">", 0);  // 11
  addPiece(spec, "<s", 1); // 12
  // "<s" + ">" would spell "<s>" (BOS, control): not merged.
  EXPECT_EQ(encodeOk(make(spec), "<s>", false),
            (std::vector<int32_t>{3, 12, 11}));
}

TEST(TokenizerTiny, SentencePieceSpaceMark) {
  // GGUF vocabularies spell the space U+2581.
  TokenizerSpec spec = tinySpec(1, 2);
  spec.tokens[3] = "\xE2\x96\x81"; // "▁"
  addPiece(spec,
           "\xE2\x96\x81"
           "a",
           5); // 9: "▁a"
  addPiece(spec,
           "\xE2\x96\x81"
           "b",
           0); // 10: "▁b"
  Tokenizer tok = make(spec);
  // " a b" -> [▁a, ▁b] (" a"=5 first, then " b"=0).
  EXPECT_EQ(encodeOk(tok, "a b", true), (std::vector<int32_t>{1, 9, 10}));
  EXPECT_EQ(*tok.decode(1, 9), "a");
  EXPECT_EQ(*tok.decode(9, 10), " b");
  EXPECT_EQ(*tok.decode(9, 3), " ");
}

TEST(TokenizerTiny, UserDefinedPiecesMerge) {
  TokenizerSpec spec = tinySpec(1, 2);
  addPiece(spec, "abc", 3, TokenKind::UserDefined); // 9
  EXPECT_EQ(encodeOk(make(spec), "abc", false), (std::vector<int32_t>{3, 9}));
  // Unused tokens are never produced and decode to "".
  spec = tinySpec(1, 2);
  addPiece(spec, "abc", 3, TokenKind::Unused); // 9
  Tokenizer tok = make(spec);
  EXPECT_EQ(encodeOk(tok, "abc", false), (std::vector<int32_t>{3, 4, 8}));
  EXPECT_EQ(*tok.decode(3, 9), "");
}

TEST(TokenizerTiny, InferredTypes) {
  // Without types: "<0xXX>" pieces are bytes, bos/eos are control.
  TokenizerSpec spec = tinySpec(1, 2);
  addPiece(spec, "<0x0A>", 0); // 9
  spec.types.clear();
  Tokenizer tok = make(spec);
  EXPECT_EQ(encodeOk(tok, "a\n", true), (std::vector<int32_t>{1, 3, 4, 9}));
  EXPECT_EQ(*tok.decode(4, 9), "\n");
  EXPECT_EQ(*tok.decode(4, 1), "");
  EXPECT_EQ(*tok.decode(4, 0), "<unk>");
}

TEST(TokenizerTiny, CreateRejectsBadSpecs) {
  TokenizerSpec spec = tinySpec(1, 2);
  spec.model = "gpt2";
  EXPECT_TRUE(failsWith(Tokenizer::create(spec), {"gpt2", "not supported"}));
  spec.model = "";
  EXPECT_TRUE(failsWith(Tokenizer::create(spec), {"not supported"}));
  spec = TokenizerSpec();
  spec.model = "llama";
  EXPECT_TRUE(failsWith(Tokenizer::create(spec), {"\"tokens\" is empty"}));
  spec = tinySpec(1, 2);
  spec.scores.pop_back();
  EXPECT_TRUE(failsWith(Tokenizer::create(spec), {"\"scores\"", "8", "9"}));
  spec = tinySpec(1, 2);
  spec.types[4] = 7;
  EXPECT_TRUE(failsWith(Tokenizer::create(spec), {"\"types\"[4]", "7"}));
  spec = tinySpec(1, 2);
  spec.scores[5] = std::nanf("");
  EXPECT_TRUE(failsWith(Tokenizer::create(spec), {"\"scores\"[5]", "NaN"}));
  spec = tinySpec(1, 2);
  spec.bosId = 9;
  EXPECT_TRUE(failsWith(Tokenizer::create(spec), {"\"bos\"", "9"}));
  spec = tinySpec(1, 2);
  spec.eosId = -2;
  EXPECT_TRUE(failsWith(Tokenizer::create(spec), {"\"eos\"", "-2"}));
}

//===----------------------------------------------------------------------===//
// The "byte" model
//===----------------------------------------------------------------------===//

// A package's tokenizer: the manifest's "tokenizer" (written by
// tokenizerSpecToJson), none when absent or null, an error naming the key
// when malformed.
TEST(TokenizerTiny, FromAPackageManifest) {
  nlohmann::json manifest = {
      {"tokenizer", tokenizerSpecToJson(tinySpec(1.0f, 2.0f))}};
  auto tokenizer = tokenizerFromManifest(manifest);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  ASSERT_TRUE(tokenizer->has_value());
  auto direct = Tokenizer::create(tinySpec(1.0f, 2.0f));
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ((*tokenizer)->encode("abc", true).take(),
            direct->encode("abc", true).take());

  for (const nlohmann::json &none :
       {nlohmann::json::object(), nlohmann::json{{"tokenizer", nullptr}}}) {
    auto absent = tokenizerFromManifest(none);
    ASSERT_TRUE(absent.ok()) << absent.message();
    EXPECT_FALSE(absent->has_value());
  }

  manifest["tokenizer"]["model"] = 7;
  auto bad = tokenizerFromManifest(manifest);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("model"), std::string::npos) << bad.message();
}

TEST(TokenizerByte, EncodeDecode) {
  TokenizerSpec spec;
  spec.model = "byte";
  spec.bosId = 256;
  spec.eosId = 257;
  Tokenizer tok = make(spec);
  EXPECT_EQ(tok.vocabSize(), 258u);
  EXPECT_EQ(encodeOk(tok, "h\xC3\xA9!", true),
            (std::vector<int32_t>{256, 0x68, 0xC3, 0xA9, 0x21}));
  EXPECT_EQ(encodeOk(tok, "h\xC3\xA9!", false),
            (std::vector<int32_t>{0x68, 0xC3, 0xA9, 0x21}));
  EXPECT_EQ(encodeOk(tok, "", true), (std::vector<int32_t>{256}));
  EXPECT_EQ(*tok.decode(256, 0x68), "h");
  EXPECT_EQ(*tok.decode(256, 0x20), " "); // no space stripping: no prefix
  EXPECT_EQ(*tok.decode(0x68, 0xC3), "\xC3");
  EXPECT_EQ(*tok.decode(0, 0), std::string(1, '\0'));
  EXPECT_EQ(*tok.decode(0x21, 256), "");
  EXPECT_EQ(*tok.decode(0x21, 257), "");
  EXPECT_TRUE(failsWith(tok.decode(0, 258), {"258", "vocabulary of 258"}));
  EXPECT_TRUE(failsWith(tok.encode("\xFF", false), {"UTF-8"}));

  // Without specials: 256 ids, no BOS even when asked.
  TokenizerSpec plain;
  plain.model = "byte";
  Tokenizer bare = make(plain);
  EXPECT_EQ(bare.vocabSize(), 256u);
  EXPECT_EQ(bare.bos(), -1);
  EXPECT_EQ(encodeOk(bare, "AB", true), (std::vector<int32_t>{65, 66}));
  EXPECT_TRUE(failsWith(bare.decode(0, 256), {"256"}));
}

//===----------------------------------------------------------------------===//
// TextStreamer
//===----------------------------------------------------------------------===//

TEST(TextStreamer, HoldsBackAnIncompleteCharacter) {
  // ✓ is E2 9C 93.
  TextStreamer s;
  EXPECT_EQ(s.push("a\xE2"), "a");
  EXPECT_EQ(s.push("\x9C"), "");
  EXPECT_EQ(s.push("\x93"
                   "b"),
            "\xE2\x9C\x93"
            "b");
  EXPECT_EQ(s.flush(), "");
  // Split 1 + 2.
  EXPECT_EQ(s.push("\xE2"), "");
  EXPECT_EQ(s.push("\x9C\x93"), "\xE2\x9C\x93");
  // A 4-byte character one byte at a time.
  EXPECT_EQ(s.push("x\xF0"), "x");
  EXPECT_EQ(s.push("\x9F"), "");
  EXPECT_EQ(s.push("\xA6"), "");
  EXPECT_EQ(s.push("\x99"), "\xF0\x9F\xA6\x99");
  // flush() gives back an incomplete tail.
  EXPECT_EQ(s.push("\xE2\x9C"), "");
  EXPECT_EQ(s.flush(), "\xE2\x9C");
  EXPECT_EQ(s.flush(), "");
}

TEST(TextStreamer, PassesInvalidBytesThrough) {
  TextStreamer s;
  EXPECT_EQ(s.push("\xFF"), "\xFF");
  EXPECT_EQ(s.push("\x9C"), "\x9C");         // stray continuation byte
  EXPECT_EQ(s.push("\xE0\x80"), "\xE0\x80"); // overlong: can never complete
  EXPECT_EQ(s.push("\xC3\xA9"), "\xC3\xA9");
  EXPECT_EQ(s.push(""), "");
}

TEST(TextStreamer, WithLlamaByteTokens) {
  REQUIRE_LLAMA();
  // ✓ as byte tokens after BOS: nothing printable until the last one.
  std::vector<int32_t> ids = {1, 29871, 3 + 0xE2, 3 + 0x9C, 3 + 0x93};
  TextStreamer s;
  std::vector<std::string> printed;
  for (size_t i = 1; i < ids.size(); ++i)
    printed.push_back(s.push(*tok.decode(ids[i - 1], ids[i])));
  EXPECT_EQ(printed, (std::vector<std::string>{"", "", "", "\xE2\x9C\x93"}));
}

//===----------------------------------------------------------------------===//
// tokenizer.bin loader
//===----------------------------------------------------------------------===//

namespace {
void putI32(std::vector<uint8_t> &out, int32_t v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  for (int i = 0; i < 4; ++i)
    out.push_back(uint8_t(u >> (8 * i)));
}
void putF32(std::vector<uint8_t> &out, float f) {
  int32_t v;
  std::memcpy(&v, &f, 4);
  putI32(out, v);
}
/// Layout (offsets by hand): max_token_length at 0; token k's score and
/// length at 4, 17, 28, 40, 54, 64; the file is 73 bytes.
///   0 "<unk>" (5)  4..12..17     3 "<0x0A>" (6) 40..48..54
///   1 "<s>"   (3) 17..25..28     4 " a"     (2) 54..62..64
///   2 "</s>"  (4) 28..36..40     5 "b"      (1) 64..72..73
const std::vector<std::pair<std::string, float>> kBinTokens = {
    {"<unk>", 0.0f},  {"<s>", 0.0f}, {"</s>", 0.0f},
    {"<0x0A>", 0.0f}, {" a", -1.5f}, {"b", -2.0f}};
std::vector<uint8_t> makeBin(int32_t maxLength = 6) {
  std::vector<uint8_t> out;
  putI32(out, maxLength);
  for (const auto &[piece, score] : kBinTokens) {
    putF32(out, score);
    putI32(out, int32_t(piece.size()));
    out.insert(out.end(), piece.begin(), piece.end());
  }
  return out;
}
void patchI32(std::vector<uint8_t> &bin, size_t offset, int32_t v) {
  std::vector<uint8_t> bytes;
  putI32(bytes, v);
  std::copy(bytes.begin(), bytes.end(), bin.begin() + std::ptrdiff_t(offset));
}
} // namespace

TEST(TokenizerLoader, ReadsAWellFormedFile) {
  std::vector<uint8_t> bin = makeBin();
  ASSERT_EQ(bin.size(), 73u);
  Expected<TokenizerSpec> spec =
      loadLlama2cTokenizer(bin.data(), bin.size(), 6);
  ASSERT_TRUE(spec.ok()) << spec.message();
  EXPECT_EQ(spec->model, "llama");
  EXPECT_EQ(spec->bosId, 1);
  EXPECT_EQ(spec->eosId, 2);
  EXPECT_EQ(spec->tokens, (std::vector<std::string>{"<unk>", "<s>", "</s>",
                                                    "<0x0A>", " a", "b"}));
  EXPECT_EQ(spec->scores,
            (std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f, -1.5f, -2.0f}));
  EXPECT_EQ(spec->types, (std::vector<int32_t>{2, 3, 3, 6, 1, 1}));
  // " " and "a" are neither pieces nor byte tokens here: <unk>; "b" is a
  // piece; "\n" is <0x0A>.
  Tokenizer tok = make(*spec);
  EXPECT_EQ(encodeOk(tok, "ab\n", true), (std::vector<int32_t>{1, 0, 0, 5, 3}));
}

TEST(TokenizerLoader, TruncationNamesTheOffset) {
  const std::vector<uint8_t> bin = makeBin();
  struct Case {
    size_t size;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {0, {"truncated at offset 0", "max_token_length"}},
      {3, {"truncated at offset 0", "max_token_length"}},
      {4, {"truncated at offset 4", "after 0 tokens", "vocabulary size is 6"}},
      {10, {"truncated at offset 4", "token 0 of 6", "6 left"}},
      {14, {"truncated at offset 12", "token 0 of 6", "5 bytes", "2 left"}},
      {17, {"truncated at offset 17", "after 1 tokens"}},
      {40, {"truncated at offset 40", "after 3 tokens"}},
      {50, {"truncated at offset 48", "token 3 of 6", "6 bytes"}},
      {72, {"truncated at offset 72", "token 5 of 6", "0 left"}},
  };
  for (const Case &c : cases) {
    EXPECT_TRUE(failsWith(loadLlama2cTokenizer(bin.data(), c.size, 6), c.parts))
        << "size " << c.size;
  }
  EXPECT_TRUE(failsWith(loadLlama2cTokenizer(nullptr, 0, 6),
                        {"truncated at offset 0"}));
}

TEST(TokenizerLoader, RejectsBadLengths) {
  std::vector<uint8_t> bin = makeBin();
  patchI32(bin, 58, -1); // token 4's length
  EXPECT_TRUE(failsWith(loadLlama2cTokenizer(bin.data(), bin.size(), 6),
                        {"token 4", "offset 54", "negative length -1"}));
  bin = makeBin();
  patchI32(bin, 58, 0x7FFFFFFF);
  EXPECT_TRUE(
      failsWith(loadLlama2cTokenizer(bin.data(), bin.size(), 6),
                {"token 4", "offset 54", "2147483647", "max_token_length 6"}));
  // Within max_token_length but past the end of the file.
  bin = makeBin(1000);
  patchI32(bin, 58, 900);
  EXPECT_TRUE(failsWith(loadLlama2cTokenizer(bin.data(), bin.size(), 6),
                        {"truncated at offset 62", "token 4", "900 bytes"}));
  bin = makeBin(0);
  EXPECT_TRUE(failsWith(loadLlama2cTokenizer(bin.data(), bin.size(), 6),
                        {"max_token_length", "positive", "0"}));
  bin = makeBin(-5);
  EXPECT_TRUE(failsWith(loadLlama2cTokenizer(bin.data(), bin.size(), 6),
                        {"max_token_length", "-5"}));
  bin = makeBin();
  std::vector<uint8_t> nan;
  putF32(nan, std::nanf(""));
  std::copy(nan.begin(), nan.end(), bin.begin() + 54);
  EXPECT_TRUE(failsWith(loadLlama2cTokenizer(bin.data(), bin.size(), 6),
                        {"token 4", "NaN"}));
}

TEST(TokenizerLoader, RejectsAVocabularySizeMismatch) {
  const std::vector<uint8_t> bin = makeBin();
  EXPECT_TRUE(failsWith(loadLlama2cTokenizer(bin.data(), bin.size(), 5),
                        {"9 bytes left at offset 64", "after 5 tokens"}));
  EXPECT_TRUE(failsWith(
      loadLlama2cTokenizer(bin.data(), bin.size(), 7),
      {"truncated at offset 73", "after 6 tokens", "vocabulary size is 7"}));
  EXPECT_TRUE(failsWith(loadLlama2cTokenizer(bin.data(), bin.size(), 0),
                        {"must be positive", "0"}));
  EXPECT_TRUE(failsWith(loadLlama2cTokenizer(bin.data(), bin.size(), -3),
                        {"must be positive", "-3"}));
  // A huge vocabulary size is a truncation, not an allocation failure.
  EXPECT_TRUE(
      failsWith(loadLlama2cTokenizer(bin.data(), bin.size(), 0x7FFFFFFF),
                {"truncated at offset 73", "after 6 tokens"}));
}

TEST(TokenizerLoader, FileErrors) {
  const std::string missing = ::testing::TempDir() + "/no-such-tokenizer.bin";
  EXPECT_TRUE(
      failsWith(loadLlama2cTokenizer(missing, 6), {missing, "cannot open"}));
  EXPECT_TRUE(failsWith(loadLlama2cTokenizer(::testing::TempDir(), 6),
                        {"not a regular file"}));
  const std::string path = ::testing::TempDir() + "/mixq-tokenizer-test.bin";
  std::vector<uint8_t> bin = makeBin();
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char *>(bin.data()),
              std::streamsize(bin.size() - 1));
  }
  EXPECT_TRUE(failsWith(loadLlama2cTokenizer(path, 6),
                        {path, "truncated at offset 72"}));
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char *>(bin.data()),
              std::streamsize(bin.size()));
  }
  Expected<TokenizerSpec> spec = loadLlama2cTokenizer(path, 6);
  EXPECT_TRUE(spec.ok()) << spec.message();
  std::remove(path.c_str());
}

//===----------------------------------------------------------------------===//
// JSON
//===----------------------------------------------------------------------===//

TEST(TokenizerJson, RoundTrip) {
  TokenizerSpec spec = tinySpec(1.25f, -3.5f);
  addPiece(spec, "\xC3\xA9", 0.1f);               // valid UTF-8: a string
  addPiece(spec, std::string("\xFF\x00z", 3), 0); // not UTF-8: {"hex"}
  nlohmann::json json = tokenizerSpecToJson(spec);
  EXPECT_EQ(json["model"], "llama");
  EXPECT_EQ(json["bos"], 1);
  EXPECT_EQ(json["eos"], 2);
  EXPECT_EQ(json["tokens"][3], " ");
  EXPECT_EQ(json["tokens"][10], (nlohmann::json{{"hex", "ff007a"}}));
  EXPECT_EQ(json["types"][0], 2);
  // It serializes (JSON strings must be UTF-8) and parses back.
  std::string text = json.dump();
  Expected<TokenizerSpec> back =
      tokenizerSpecFromJson(nlohmann::json::parse(text));
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_EQ(back->model, spec.model);
  EXPECT_EQ(back->tokens, spec.tokens);
  EXPECT_EQ(back->scores, spec.scores);
  EXPECT_EQ(back->types, spec.types);
  EXPECT_EQ(back->bosId, 1);
  EXPECT_EQ(back->eosId, 2);

  // The byte model with no tokens; missing optional keys default.
  Expected<TokenizerSpec> byte = tokenizerSpecFromJson(nlohmann::json{
      {"model", "byte"}, {"tokens", nlohmann::json::array()}, {"bos", 256}});
  ASSERT_TRUE(byte.ok()) << byte.message();
  EXPECT_EQ(byte->bosId, 256);
  EXPECT_EQ(byte->eosId, -1);
  EXPECT_TRUE(byte->scores.empty());
  EXPECT_EQ(tokenizerSpecVocabSize(*byte), 257u);
}

TEST(TokenizerJson, RoundTripsTheLlamaVocabulary) {
  REQUIRE_LLAMA();
  (void)tok;
  Expected<TokenizerSpec> back = tokenizerSpecFromJson(
      nlohmann::json::parse(tokenizerSpecToJson(L->spec).dump()));
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_EQ(back->tokens, L->spec.tokens);
  EXPECT_EQ(back->scores, L->spec.scores);
  EXPECT_EQ(back->types, L->spec.types);
}

TEST(TokenizerJson, ValidationErrorsNameTheKey) {
  using nlohmann::json;
  const json good = tokenizerSpecToJson(tinySpec(1, 2));
  ASSERT_TRUE(tokenizerSpecFromJson(good).ok());
  auto with = [&](const std::string &key, json value) {
    json j = good;
    j[key] = std::move(value);
    return tokenizerSpecFromJson(j);
  };
  auto without = [&](const std::string &key) {
    json j = good;
    j.erase(key);
    return tokenizerSpecFromJson(j);
  };
  EXPECT_TRUE(failsWith(tokenizerSpecFromJson(json::array()), {"object"}));
  EXPECT_TRUE(failsWith(without("model"), {"\"model\"", "missing"}));
  EXPECT_TRUE(failsWith(with("model", 3), {"\"model\"", "string"}));
  EXPECT_TRUE(failsWith(without("tokens"), {"\"tokens\"", "missing"}));
  EXPECT_TRUE(failsWith(with("tokens", "abc"), {"\"tokens\"", "array"}));
  json tokens = good["tokens"];
  tokens[4] = 17;
  EXPECT_TRUE(failsWith(with("tokens", tokens), {"\"tokens\"[4]", "string"}));
  tokens[4] = json{{"hex", "abc"}};
  EXPECT_TRUE(failsWith(with("tokens", tokens), {"\"tokens\"[4]", "hex"}));
  tokens[4] = json{{"hex", "zz"}};
  EXPECT_TRUE(failsWith(with("tokens", tokens), {"\"tokens\"[4]", "hex"}));
  EXPECT_TRUE(failsWith(with("scores", json{1.0, 2.0}),
                        {"\"scores\" has 2 entries", "\"tokens\" has 9"}));
  json scores = good["scores"];
  scores[2] = "high";
  EXPECT_TRUE(failsWith(with("scores", scores), {"\"scores\"[2]", "number"}));
  scores[2] = 1e300;
  EXPECT_TRUE(failsWith(with("scores", scores), {"\"scores\"[2]", "finite"}));
  EXPECT_TRUE(failsWith(with("scores", "x"), {"\"scores\"", "array"}));
  EXPECT_TRUE(failsWith(with("types", json{1, 1, 1}),
                        {"\"types\" has 3 entries", "\"tokens\" has 9"}));
  json types = good["types"];
  types[6] = 9;
  EXPECT_TRUE(failsWith(with("types", types), {"\"types\"[6]", "9"}));
  types[6] = 1.5;
  EXPECT_TRUE(failsWith(with("types", types), {"\"types\"[6]", "integer"}));
  types[6] = -1;
  EXPECT_TRUE(failsWith(with("types", types), {"\"types\"[6]", "-1"}));
  EXPECT_TRUE(failsWith(with("types", json::object()), {"\"types\"", "array"}));
  EXPECT_TRUE(failsWith(with("bos", 9), {"\"bos\"", "9", "[-1, 9)"}));
  EXPECT_TRUE(failsWith(with("eos", -2), {"\"eos\"", "-2"}));
  EXPECT_TRUE(failsWith(with("bos", "1"), {"\"bos\"", "integer"}));
  EXPECT_TRUE(failsWith(with("eos", 1.0), {"\"eos\"", "integer"}));
  EXPECT_TRUE(failsWith(with("bos", json(uint64_t(1) << 63)), {"\"bos\""}));
  EXPECT_TRUE(failsWith(with("bos", json(int64_t(1) << 40)), {"\"bos\""}));
  // Empty scores/types are allowed.
  EXPECT_TRUE(with("scores", json::array()).ok());
  EXPECT_TRUE(with("types", json::array()).ok());
}
